import { ConnectionView } from '@app/wegroup';

const escape = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The small page a person sees after signing in at WeGroup. */
export function connectionPage(title: string, lines: string[], ok: boolean): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1d2330}
h1{font-size:1.4rem;color:${ok ? '#1f7a3a' : '#a12622'}}li{margin:.3rem 0}code{background:#f1f3f6;padding:0 .25rem}</style></head>
<body><h1>${escape(title)}</h1><ul>${lines.map((l) => `<li>${escape(l)}</li>`).join('')}</ul></body></html>`;
}

export function connectedPage(connection: ConnectionView): string {
  const missing = connection.features.filter((f) => !f.enabled);
  return connectionPage(
    'WeGroup account connected',
    [
      `Distribution: ${connection.distribution_id}`,
      `Broker: ${connection.broker_id ?? 'unknown'}`,
      `Signed in as: ${connection.user.username ?? connection.user.email ?? connection.user.uid ?? 'unknown'}`,
      `Granted scopes: ${connection.scopes.join(' ') || 'none'}`,
      ...missing.map((f) => `Not granted: ${f.scope}. ${f.description} will not work.`),
      'You can close this page.',
    ],
    missing.every((f) => f.scope !== 'leads:write'),
  );
}
