#!/usr/bin/env node
'use strict';
/**
 * npm run ops:hash-password: prints the scrypt hash of a password, for an OPS_USERS entry
 * (name:hash:role). From a terminal it asks for the password twice without echoing it;
 * otherwise, or with --stdin, it reads the password from standard input (one trailing newline
 * is dropped). The password never goes on the command line, where `ps` and shell history
 * would keep it.
 *
 * The format is the intake's own (apps/intake-api/src/ops/ops-password.ts), from the bundle
 * `npm run build` makes of that module, so the two cannot drift apart.
 */
const fs = require('node:fs');
const path = require('node:path');

const BUNDLE = 'dist/apps/intake-api/ops-password.js';
const MIN_LENGTH = 8;
const MAX_BYTES = 1024;
const USAGE = `Usage: npm run ops:hash-password [-- --stdin]
Prints the scrypt hash of an ops password for OPS_USERS (name:hash:viewer|operator).
From a terminal it asks for the password (not echoed); --stdin, or a pipe, reads it from standard input.`;

function fail(message, code = 1) {
  process.stderr.write(`ops:hash-password: ${message}\n`);
  process.exit(code);
}

/** Reads standard input to its end, at most MAX_BYTES; drops one trailing newline. */
function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    process.stdin.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BYTES) reject(new Error(`the password is longer than ${MAX_BYTES} bytes`));
      else chunks.push(chunk);
    });
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '')));
    process.stdin.on('error', reject);
  });
}

/** Asks on the terminal with echo off (raw mode), one line; Ctrl-C aborts. */
function askHidden(prompt) {
  return new Promise((resolve, reject) => {
    const input = process.stdin;
    process.stderr.write(prompt);
    input.setRawMode(true);
    input.setEncoding('utf8');
    input.resume();
    let answer = '';
    const done = (error) => {
      input.setRawMode(false);
      input.pause();
      input.removeListener('data', onData);
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(answer);
    };
    const onData = (text) => {
      for (const char of text) {
        if (char === '\r' || char === '\n' || char === '\u0004') return done();
        if (char === '\u0003') return done(new Error('aborted'));
        if (char === '\u007f' || char === '\b') answer = answer.slice(0, -1);
        else if (answer.length >= MAX_BYTES) return done(new Error(`the password is longer than ${MAX_BYTES} characters`));
        else answer += char;
      }
    };
    input.on('data', onData);
  });
}

async function main() {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const unknown = args.filter((arg) => arg !== '--stdin');
  if (unknown.length > 0) fail(`unknown argument ${JSON.stringify(unknown[0].slice(0, 40))} (the password is read from standard input, never from the command line)\n${USAGE}`, 2);

  const bundle = path.resolve(__dirname, '..', BUNDLE);
  if (!fs.existsSync(bundle)) fail(`${BUNDLE} missing: run npm run build first`);
  const { hashOpsPassword } = require(bundle);

  let password;
  if (!args.includes('--stdin') && process.stdin.isTTY) {
    password = await askHidden('Ops password: ');
    const again = await askHidden('Again: ');
    if (again !== password) fail('the two passwords differ');
  } else {
    password = await readStdin();
  }
  if (password.length < MIN_LENGTH) fail(`the password must be at least ${MIN_LENGTH} characters`);
  process.stdout.write(`${await hashOpsPassword(password)}\n`);
}

main().catch((error) => fail(error.message));
