import { NativeRequest, SourceAdapter, SplitRequest } from '../source-adapter';
import { FetchRequest, NativeEvent, SourceDefinition } from '../source.types';
import { credentialsOf, header, hmacSha256, idText, isObject, jsonObjectBody, payloadError, rawBytes, refuse, secretEquals } from './adapter-utils';

/** One answer's value by its type: text, email, phone_number, date, number, boolean, url, file_url, choice label(s). */
export function typeformAnswerValue(answer: Record<string, unknown>): unknown {
  switch (answer.type) {
    case 'choice': {
      const choice = answer.choice;
      return isObject(choice) ? (choice.label ?? choice.other) : undefined;
    }
    case 'choices': {
      const choices = answer.choices;
      if (!isObject(choices)) return undefined;
      const labels = Array.isArray(choices.labels) ? choices.labels : [];
      return choices.other !== undefined ? [...labels, choices.other] : labels;
    }
    default:
      return typeof answer.type === 'string' ? answer[answer.type] : undefined;
  }
}

/**
 * Typeform `form_response` webhooks, signed with the webhook's secret
 * (`Typeform-Signature: sha256=<base64 HMAC-SHA256 of the body>`). Answers are mapped by the
 * field's `ref`. Typeform disables a webhook answered 404 or 410, never for a 400.
 */
export class TypeformAdapter implements SourceAdapter {
  readonly type = 'typeform' as const;
  readonly platform = 'Typeform';

  authMode(): string {
    return 'Typeform-Signature (webhook secret)';
  }

  authenticate(source: SourceDefinition, request: NativeRequest): void {
    const { secret } = credentialsOf(source, 'typeform');
    const signature = header(request.headers, 'typeform-signature');
    if (signature === undefined) throw refuse('Typeform-Signature', 'Missing Typeform-Signature header: set a secret on the Typeform webhook.');
    const match = /^sha256=([A-Za-z0-9+/]+={0,2})$/.exec(signature.trim());
    if (!match) throw refuse('Typeform-Signature', 'The Typeform-Signature header must be sha256=<base64 signature>.');
    if (!secretEquals(Buffer.from(match[1], 'base64'), hmacSha256(secret, rawBytes(request)))) {
      throw refuse('Typeform-Signature', 'The Typeform-Signature header does not match: the body was changed, or it was signed with another secret.');
    }
  }

  split(request: NativeRequest): SplitRequest {
    const body = jsonObjectBody(request, this.platform);
    const eventId = idText(body.event_id);
    if (body.event_type !== 'form_response') {
      if (typeof body.event_type === 'string') return { events: [], ignored: [{ eventId: eventId ?? null, reason: `event_type ${body.event_type.slice(0, 40)} is not a form_response` }] };
      throw payloadError(this.platform, [{ field: 'event_type', message: 'event_type must be form_response' }]);
    }
    const problems = [];
    if (!eventId) problems.push({ field: 'event_id', message: 'event_id is required' });
    if (!isObject(body.form_response)) problems.push({ field: 'form_response', message: 'form_response is required' });
    else if (!Array.isArray(body.form_response.answers)) problems.push({ field: 'form_response.answers', message: 'form_response.answers must be an array' });
    if (problems.length) throw payloadError(this.platform, problems);
    return { events: [{ eventId: eventId!, payload: body }], ignored: [] };
  }

  fetchFor(): FetchRequest | null {
    return null;
  }

  mappingInput(_source: SourceDefinition, event: NativeEvent): unknown {
    const body = isObject(event.payload) ? event.payload : {};
    const response = isObject(body.form_response) ? body.form_response : {};
    const answers: Record<string, unknown> = {};
    for (const answer of Array.isArray(response.answers) ? response.answers : []) {
      if (!isObject(answer) || !isObject(answer.field)) continue;
      const key = idText(answer.field.ref) ?? idText(answer.field.id);
      if (key && !(key in answers)) answers[key] = typeformAnswerValue(answer);
    }
    return { event: body, answers, hidden: isObject(response.hidden) ? response.hidden : {} };
  }
}
