// Unit tests of the client and the forms (src/__tests__/*.spec.ts[x]), with ts-jest.
// @jupyterlab and lumino ship ES modules: they are compiled for jest too.
const esModules = ['@jupyterlab', '@lumino', 'lib0', 'yjs', 'y-protocols', 'nanoid'].join('|');

module.exports = {
  testEnvironment: 'node',
  testRegex: 'src/__tests__/.*\\.spec\\.tsx?$',
  transform: {
    '^.+\\.[jt]sx?$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }]
  },
  transformIgnorePatterns: [`/node_modules/(?!(${esModules}))`],
  moduleNameMapper: { '\\.(css|svg)$': '<rootDir>/src/__tests__/file-stub.js' }
};
