/* A stack in JavaScript. */
class Stack {
  constructor() { this.items = []; }
  pop() {
    switch (this.items.length) {
      case 0: return undefined;
      default: return this.items.pop();
    }
  }
}
function peek(stack) { return stack.items[stack.items.length - 1] ?? null; }
module.exports = { Stack, peek };
