// report.js — the "ok / FAIL" lines every end-to-end test prints and the
// "N passed, M failed" summary that ends it (exit 1 on any failure).
'use strict';

const counts = { passed: 0, failed: 0 };

function check(cond, what, detail) {
  if (cond) {
    counts.passed++;
    console.log(`ok   - ${what}`);
  } else {
    counts.failed++;
    console.log(`FAIL - ${what}${detail !== undefined ? `: ${detail}` : ''}`);
  }
  return !!cond;
}

function info(msg) { console.log(`# ${msg}`); }

function failures() { return counts.failed; }

function exitWithSummary() {
  console.log(`${counts.passed} passed, ${counts.failed} failed`);
  process.exit(counts.failed > 0 ? 1 : 0);
}

module.exports = { check, info, failures, exitWithSummary };
