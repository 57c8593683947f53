// Prints "N passed, N failed[, N skipped]" from a vitest JSON report; exits 1 when
// the report is missing, any test failed, or no test ran.
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? '.test-results/vitest.json';
let report;
try {
  report = JSON.parse(readFileSync(file, 'utf8'));
} catch (err) {
  console.log('0 passed, 0 failed');
  console.error(`no vitest report at ${file}: ${err.message}`);
  process.exit(1);
}
const passed = report.numPassedTests ?? 0;
const failed = report.numFailedTests ?? 0;
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
const brokenSuites = (report.testResults ?? []).filter(
  (r) => r.status === 'failed' && (r.assertionResults ?? []).length === 0,
).length;
console.log(
  `${passed} passed, ${failed + brokenSuites} failed${skipped ? `, ${skipped} skipped` : ''}`,
);
process.exit(failed + brokenSuites > 0 || passed === 0 || report.success === false ? 1 : 0);
