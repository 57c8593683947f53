#!/usr/bin/env node
// `nodeagent-dev-cluster`: a local API server with kubeconfigs for kubectl and agents.
// Runs the built package (npm run build); see src/dev-cluster.ts.
import { runDevClusterCommand } from '../dist/dev-cluster.js';

process.exitCode = await runDevClusterCommand(process.argv.slice(2));
