/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  // Unit tests live beside the code (src/**/*.test.ts); integration, HTTP and golden tests in test/.
  roots: ['<rootDir>/src', '<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    // Type-checking is `npm run typecheck`; the transform only strips types, which keeps the suite fast.
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
    // jose is ESM-only. Node >= 20.19 loads it with require(); jest's module system does not, so jest compiles it.
    '/node_modules/jose/.+\\.js$': ['ts-jest', { tsconfig: { allowJs: true, module: 'commonjs', target: 'ES2022', isolatedModules: true, sourceMap: false } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!jose/)'],
  testTimeout: 30000,
};
