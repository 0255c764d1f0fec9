#!/usr/bin/env node
// The il6-cds command line (`npx il6-cds --help`). Runs the compiled CLI; `npm install` builds it.
require('../dist/src/cli/index.js');
