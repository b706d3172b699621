'use strict';
/**
 * How each app is started: its bundle and the Node flags it runs with. `npm start`, the
 * benchmark, package.json's start:* scripts, the Dockerfile and docker-compose.yml all start
 * the apps this way (a test checks that they agree).
 *
 * The heap cap keeps a process's memory flat under load: without one, V8 lets the old
 * generation grow with the machine's memory and collects it lazily, so a busy intake held
 * ~300 MB where ~170 MB does the same work. Raise it with the container's memory limit.
 */
const APPS = {
  'intake-api': { main: 'dist/apps/intake-api/main.js', nodeArgs: ['--max-old-space-size=128'] },
  'delivery-worker': { main: 'dist/apps/delivery-worker/main.js', nodeArgs: ['--max-old-space-size=128'] },
  'wegroup-sandbox': { main: 'dist/apps/wegroup-sandbox/main.js', nodeArgs: [] },
};

/** The argument list after `node`. */
function nodeCommand(app) {
  const { main, nodeArgs } = APPS[app];
  return [...nodeArgs, main];
}

module.exports = { APPS, nodeCommand };
