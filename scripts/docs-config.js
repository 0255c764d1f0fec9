#!/usr/bin/env node
// Rewrites the settings table in README.md from src/config.ts (SETTINGS), so the two cannot drift apart.
// Run after `npm run build`: `npm run docs:config`.
const fs = require('fs');
const path = require('path');
const { settingsMarkdown } = require('../dist/src/config.js');
const file = path.join(__dirname, '..', 'README.md');
const text = fs.readFileSync(file, 'utf8');
const begin = text.indexOf('<!-- settings:begin');
const end = text.indexOf('<!-- settings:end -->');
if (begin < 0 || end < 0) throw new Error('README.md has no settings markers');
const head = text.slice(0, text.indexOf('\n', begin) + 1);
fs.writeFileSync(file, `${head}${settingsMarkdown()}\n${text.slice(end)}`);
console.log('README.md settings table updated');
