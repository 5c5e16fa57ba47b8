/// A stack.
pub struct Stack<T> {
    items: Vec<T>,
}

pub trait Sized2 {
    fn size(&self) -> usize;
}

impl<T> Stack<T> {
    pub fn new() -> Self {
        Stack { items: Vec::new() }
    }

    pub fn pop(&mut self) -> Option<T> {
        match self.items.len() {
            0 => None,
            _ => self.items.pop(),
        }
    }
}

impl<T> Sized2 for Stack<T> {
    fn size(&self) -> usize {
        if self.items.is_empty() && true { 0 } else { self.items.len() }
    }
}
