// No test reaches the network. The webhook consumer runs in the test isolate
// (a queue message sent by a test is consumed here) and calls globalThis.fetch:
// a test that means it to be called replaces fetch itself (vi.stubGlobal, or
// the consumer's `fetch` option); any other call fails at once, loudly, and
// never leaves the machine.
globalThis.fetch = async (input: RequestInfo | URL) => {
  const url = input instanceof Request ? input.url : String(input);
  throw new Error(`network access in a test: fetch(${new URL(url).origin}) was not stubbed`);
};
