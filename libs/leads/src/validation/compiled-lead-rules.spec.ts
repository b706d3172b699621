import { ValidationPipe } from '@nestjs/common';
import { getMetadataStorage } from 'class-validator';
import { lead, typicalLead } from '../../../../test/support/lead-fixtures';
import { CreateLeadDto, ExternalRefDto, ProspectDto } from '../dto/create-lead.dto';
import { compiledLeadCheck, DECORATED_LEAD_RULES } from './compiled-lead-rules';
import { strictValidationOptions, validateLeadBody } from './lead-validation';

type Json = Record<string, any>;

/** The decorators of a DTO class as `Class.property: rule, rule` (bottom-up, as they run). */
function decoratedRules(dto: new () => unknown): string[] {
  const storage = getMetadataStorage() as unknown as {
    validationMetadatas: Map<unknown, Array<{ propertyName: string; name?: string; type: string; constraintCls?: new () => unknown }>>;
    getTargetValidatorConstraints(cls: unknown): Array<{ name?: string }>;
  };
  const byProperty = new Map<string, string[]>();
  for (const metadata of storage.validationMetadatas.get(dto) ?? []) {
    const rule = metadata.name ?? (metadata.constraintCls && storage.getTargetValidatorConstraints(metadata.constraintCls)[0]?.name) ?? metadata.type;
    byProperty.set(metadata.propertyName, [...(byProperty.get(metadata.propertyName) ?? []), rule]);
  }
  return [...byProperty].map(([property, rules]) => `${dto.name}.${property}: ${[...new Set(rules)].sort().join(', ')}`);
}

/** class-validator's answer (what the compiled rules stand in for): the instance, or null when refused. */
async function decoratorsAnswer(body: Json, allowHttpUrls: boolean): Promise<CreateLeadDto | null> {
  const pipe = new ValidationPipe({ ...strictValidationOptions({ allowHttpUrls }), exceptionFactory: () => new Error('refused') });
  try {
    return (await pipe.transform(body, { type: 'body', metatype: CreateLeadDto })) as CreateLeadDto;
  } catch {
    return null;
  }
}

const LONG = (n: number) => 'x'.repeat(n);
/** Values tried in place of each field, good and bad. */
const VALUES: unknown[] = [
  undefined,
  null,
  '',
  ' ',
  'Foo',
  LONG(200),
  LONG(201),
  LONG(255),
  LONG(256),
  '😀'.repeat(150),
  0,
  true,
  [],
  ['https://crm.example.com/hook'],
  ['http://crm.example.com/hook'],
  ['https://user:pw@crm.example.com/hook'],
  Array.from({ length: 21 }, (_, i) => `https://crm.example.com/${i}`),
  {},
  { external_ref: 'r1' },
  { external_ref: 'r1', external_ref_company: 'acme' },
  { external_ref: '', external_ref_company: 'acme' },
  { external_ref: 'r1', external_ref_company: 7 },
  { cars: [{ vin: 'X' }] },
  { cars: [1] },
  { cars: {} },
  { cars: Array.from({ length: 51 }, () => ({})) },
  'https://crm.example.com/p/1',
  'http://crm.example.com/p/1',
  'ftp://crm.example.com/p/1',
  `https://crm.example.com/${LONG(2040)}`,
  'dist-1',
  '-dist',
  '11111111-2222-4333-8444-555555555555',
];

const TOP = ['origin', 'backref', 'prospect', 'distribution_id'];
const PROSPECT = ['first_name', 'last_name', 'callbacks', 'external_ref', 'risk_objects', 'email'];

/** Every body with one field replaced by one of VALUES (undefined: removed). */
function variants(): Array<{ label: string; body: Json }> {
  const out: Array<{ label: string; body: Json }> = [{ label: 'typical lead', body: typicalLead(1) }];
  VALUES.forEach((value, v) => {
    for (const field of TOP) {
      const body = lead();
      if (value === undefined) delete body[field];
      else body[field] = structuredClone(value);
      out.push({ label: `${field} = VALUES[${v}]`, body });
    }
    for (const field of PROSPECT) {
      const body = lead();
      if (value === undefined) delete body.prospect[field];
      else body.prospect[field] = structuredClone(value);
      out.push({ label: `prospect.${field} = VALUES[${v}]`, body });
    }
    for (const field of ['external_ref', 'external_ref_company']) {
      const body = lead();
      if (value === undefined) delete body.prospect.external_ref[field];
      else body.prospect.external_ref[field] = structuredClone(value);
      out.push({ label: `prospect.external_ref.${field} = VALUES[${v}]`, body });
    }
  });
  return out;
}

describe('the lead rules compiled once', () => {
  it('mirror exactly the decorators of the lead DTOs', () => {
    const declared = [CreateLeadDto, ProspectDto, ExternalRefDto].flatMap(decoratedRules).sort();
    const mirrored = DECORATED_LEAD_RULES.map((line) => {
      const [property, rules] = line.split(': ');
      return `${property}: ${rules.split(', ').sort().join(', ')}`;
    }).sort();
    expect(mirrored).toEqual(declared);
  });

  it.each([false, true])('accept only what the decorators accept, as the same instances (ALLOW_HTTP_URLS=%s)', async (allowHttpUrls) => {
    let accepted = 0;
    for (const { label, body } of variants()) {
      const compiled = compiledLeadCheck(structuredClone(body), allowHttpUrls);
      const decorated = await decoratorsAnswer(structuredClone(body), allowHttpUrls);
      if (compiled === null) continue;
      accepted += 1;
      expect({ label, accepted: decorated !== null }).toEqual({ label, accepted: true });
      expect({ label, value: JSON.parse(JSON.stringify(compiled)) }).toEqual({ label, value: JSON.parse(JSON.stringify(decorated)) });
      expect(Object.keys(compiled)).toEqual(Object.keys(decorated!));
      expect(compiled.prospect).toBeInstanceOf(ProspectDto);
      if (body.prospect.external_ref && typeof body.prospect.external_ref === 'object') expect(compiled.prospect.external_ref).toBeInstanceOf(ExternalRefDto);
    }
    // The fast path is taken by the leads clients send, not by a few edge cases only.
    expect(accepted).toBeGreaterThan(100);
  });

  it('leave every refusal to class-validator, which words it as before', async () => {
    const check = await validateLeadBody(lead({}, { first_name: ' ' }));
    expect(check.errors).toEqual([{ field: 'prospect.first_name', message: 'prospect.first_name must not be blank' }]);
    expect(compiledLeadCheck(lead({}, { first_name: ' ' }), false)).toBeNull();
  });

  it('build the lead as class-transformer does, for a lead the compiled rules accept', async () => {
    const check = await validateLeadBody(typicalLead(2));
    expect(check.value).toBeInstanceOf(CreateLeadDto);
    expect(check.value).toStrictEqual(await decoratorsAnswer(typicalLead(2), false));
  });
});
