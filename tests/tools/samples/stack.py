"""A stack, to outline and measure."""


class Stack:
    def __init__(self):
        self.items = []

    def push(self, item):
        # refuse None
        if item is None or item is False:
            raise ValueError("no")
        self.items.append(item)

    def pop(self):
        return self.items.pop() if self.items else None


def drain(stack):
    out = []
    while stack.items:
        try:
            out.append(stack.pop())
        except IndexError:
            break
    return [x for x in out if x]
