// A typed stack.
export interface Sized {
  size(): number;
}

export class Stack<T> implements Sized {
  private items: T[] = [];

  push(item: T): void {
    if (item === undefined || item === null) {
      throw new Error("no");
    }
    this.items.push(item);
  }

  size(): number {
    return this.items.length > 0 ? this.items.length : 0;
  }
}

export const make = <T,>(): Stack<T> => new Stack<T>();
