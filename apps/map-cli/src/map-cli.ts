import { readFileSync } from 'node:fs';
import { HttpService } from '@nestjs/axios';
import axios from 'axios';
import { Env } from '@app/config';
import { JsonataLeadMapper } from '@app/sources/native-lead.mapper';
import { SourceRecordFetcher } from '@app/sources/record.fetcher';
import { previewSource, previewSucceeded } from '@app/sources/source-preview';
import { NativeRequest } from '@app/sources/source-adapter';
import { SourceRegistry } from '@app/sources/source.registry';
import { readSourcesConfig } from '@app/sources/sources.config';

/*
 * `npm run map -- <source> <payload-file>`: what a native payload would produce, from a shell.
 * Reads SOURCES_FILE and the platforms' API URLs as the apps do, splits and maps the payload
 * (fetching records as the worker would), enqueues nothing, and prints the preview as JSON.
 * Exit code: 0 every lead maps, 1 any problem, 2 usage or configuration error.
 */

const USAGE = 'usage: npm run map -- <source> <payload-file>   (JSON; XML for a salesforce source)';
/** Larger than any hook body the intake takes (1 MiB). */
const MAX_PAYLOAD_BYTES = 1024 * 1024;

/** A wrong command line, or a source or file that cannot be read: exit code 2. */
export class UsageError extends Error {}

export async function runMap(argv: string[], env: Env): Promise<{ code: number; output: string }> {
  const [sourceName, file, ...rest] = argv;
  if (!sourceName || !file || rest.length) throw new UsageError(USAGE);
  const config = readSourcesConfig(env);
  if (config.file === null) throw new UsageError('SOURCES_FILE is not set: it names the sources file that declares the source.');
  const registry = new SourceRegistry(config.sources);
  const source = registry.get(sourceName);
  if (!source) throw new UsageError(`source "${sourceName}" is not in ${config.file} (sources: ${registry.all().map((s) => s.name).join(', ') || 'none'})`);
  let raw: Buffer;
  try {
    raw = readFileSync(file);
  } catch (error) {
    throw new UsageError(`cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (raw.length > MAX_PAYLOAD_BYTES) throw new UsageError(`${file} is larger than ${MAX_PAYLOAD_BYTES} bytes (the intake takes at most that)`);
  const text = raw.toString('utf8');
  const xml = source.type === 'salesforce';
  let body: unknown = text;
  if (!xml) {
    try {
      body = JSON.parse(text);
    } catch {
      const preview = { source: source.name, type: source.type, leads: [], ignored: [], problems: [{ field: '(body)', message: `(body) is not valid JSON (${file})` }] };
      return { code: 1, output: JSON.stringify(preview, null, 2) };
    }
  }
  const request: NativeRequest = {
    method: 'POST',
    url: `${config.publicBaseUrl ?? 'http://localhost'}/v1/hooks/${encodeURIComponent(source.name)}`,
    headers: { 'content-type': xml ? 'text/xml' : 'application/json' },
    query: {},
    rawBody: raw,
    body,
  };
  const fetcher = new SourceRecordFetcher(new HttpService(axios.create()), config);
  const mapper = new JsonataLeadMapper(fetcher, { allowHttpUrls: env.ALLOW_HTTP_URLS?.trim() === 'true' });
  const preview = await previewSource(registry, mapper, source.name, request);
  return { code: previewSucceeded(preview) ? 0 : 1, output: JSON.stringify(preview, null, 2) };
}

