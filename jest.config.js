/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  // Unit tests live beside the code (src/**/*.test.ts); integration, HTTP and golden tests in test/.
  roots: ['<rootDir>/src', '<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    // Type-checking is `npm run typecheck`; the transform only strips types, which keeps the suite fast.
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
  },
  testTimeout: 30000,
};
