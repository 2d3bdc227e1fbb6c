// Vite's `?raw` imports (text of a file at test build time): the contract and runtime settings.
declare module "*?raw" {
  const text: string;
  export default text;
}
