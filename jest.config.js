// Four projects: fast unit tests of pure logic, the integration suite on a real control plane, the
// e2e suite on a control plane with a real node (kubelet + containerd, test/e2e/), and
// the fault suite (test/faults/: crashes, API server restarts, dropped and stale watches, API
// faults, concurrent editors, the bad-input catalogue) on a control plane of its own,
// sized by REGCRED_FAULTS_SIZE (quick in npm test, full with npm run test:faults).
const common = {
  preset: 'ts-jest/presets/default-esm',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }] },
};
export default {
  // Integration tests wait on a real control plane; a per-project testTimeout is ignored by jest.
  testTimeout: 180000,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/harness/global-setup.ts',
      globalTeardown: '<rootDir>/test/harness/global-teardown.ts',
    },
    {
      ...common,
      // The real node (kubelet + containerd): Pods pull with what the operator wrote, and the
      // operator runs as Pods of its own image (test/e2e/).
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.test.ts'],
      globalSetup: '<rootDir>/test/harness/e2e-setup.ts',
      globalTeardown: '<rootDir>/test/harness/e2e-teardown.ts',
    },
    {
      ...common,
      displayName: 'faults',
      testMatch: ['<rootDir>/test/faults/**/*.test.ts'],
      globalSetup: '<rootDir>/test/harness/global-setup.ts',
      globalTeardown: '<rootDir>/test/harness/global-teardown.ts',
    },
  ],
};
