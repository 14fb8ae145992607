// `express4` is Express 4 installed under an npm alias; its API is the same for these tests, so it
// borrows Express 5's types (the middleware under test is typed against `express` only).
declare module 'express4' {
  import express from 'express';
  export default express;
}
