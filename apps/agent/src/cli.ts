#!/usr/bin/env node
// The `nodeagent` entry point. reflect-metadata must be loaded before tsyringe, and
// only here: the packages themselves never need it.
import 'reflect-metadata';
import { runCommand } from './main.js';

const code = await runCommand(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
});
// Stopped components leave no timers, but a stray handle (a socket the runtime
// holds open) must not keep a stopped agent alive under systemd.
process.exit(code);
