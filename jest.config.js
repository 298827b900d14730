/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // test/container/ builds and runs the images on a real Docker engine: `npm run test:image`, not `npm test`.
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/container/'],
  transform: {
    // Type checking is `tsc --noEmit` in `npm test`; with isolatedModules (tsconfig) ts-jest only transpiles. It
    // transpiles to CommonJS so that a command's on-demand import('./x.js') becomes a require() inside jest's module
    // registry: a real dynamic import() needs --experimental-vm-modules there. The bundle (esbuild) does the same.
    '^.+\\.ts$': ['ts-jest', { tsconfig: { module: 'CommonJS', moduleResolution: 'Node10', ignoreDeprecations: '5.0' } }],
  },
  // The CLI loads some commands' modules on demand, with import('./x.js') as TypeScript's NodeNext wants: the source is x.ts.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  setupFiles: ['<rootDir>/test/support/env.ts'],
  setupFilesAfterEnv: ['aws-cdk-lib/testhelpers/jest-autoclean'],
  // Integration suites start their own PostgreSQL cluster and S3 emulator; two cores, two workers.
  maxWorkers: 2,
  testTimeout: 120_000,
};
