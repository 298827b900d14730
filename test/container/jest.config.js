// The container tests (`npm run test:image`): the root configuration, on test/container/ only, one suite at a time
// (each drives the one Docker engine and builds big images).
const root = require('../../jest.config.js');

module.exports = {
  ...root,
  rootDir: '../..',
  roots: ['<rootDir>/test/container'],
  testPathIgnorePatterns: ['/node_modules/'],
  maxWorkers: 1,
  testTimeout: 15 * 60_000,
};
