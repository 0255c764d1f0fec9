// Preloaded (`node --require`) into the compiled service by uncaught-error.test.ts: SIGUSR2 makes the process
// throw an error nothing catches, from a timer, as a bug outside any request would; with
// IL6_TEST_CRASH=rejection, reject a promise nothing handles instead.
process.on('SIGUSR2', () => {
  setTimeout(() => {
    if (process.env.IL6_TEST_CRASH === 'rejection') void Promise.reject(new RangeError('deliberate test rejection'));
    else throw new TypeError('deliberate test crash');
  }, 0);
});
