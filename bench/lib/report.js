'use strict';
/**
 * The printed table and the JSON file. A row: { metric, measured, baseline, ratio, target, pass }
 * where measured/baseline are { value, unit } (or null), ratio a number (or null), target a
 * string and pass true/false/null (null: informational, no target).
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const COLUMNS = ['section', 'metric', 'measured', 'baseline', 'ratio', 'target', 'result'];

function formatValue(cell) {
  if (!cell || cell.value === null || cell.value === undefined || Number.isNaN(cell.value)) return '—';
  const { value, unit = '' } = cell;
  const digits = Number.isInteger(value) || Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  const text = value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return unit ? `${text} ${unit}` : text;
}

function formatRatio(ratio) {
  return ratio === null || ratio === undefined || !Number.isFinite(ratio) ? '—' : `${ratio.toFixed(2)}×`;
}

function formatPass(pass) {
  if (pass === true) return 'pass';
  if (pass === false) return 'FAIL';
  return '';
}

/** Rows of every section as text cells; a section that errored shows its error in words. */
function tableLines(sections) {
  const lines = [];
  for (const section of sections) {
    if (section.error) {
      lines.push([section.name, 'error (below the table)', '', '', '', '', 'ERROR']);
    }
    for (const row of section.rows) {
      lines.push([section.name, row.metric, formatValue(row.measured), formatValue(row.baseline), formatRatio(row.ratio), row.target ?? '', formatPass(row.pass)]);
    }
    if (!section.error && section.rows.length === 0) lines.push([section.name, '(nothing measured)', '', '', '', '', '']);
  }
  return lines;
}

function formatTable(sections) {
  const rows = [COLUMNS, ...tableLines(sections)];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((row) => String(row[i]).length)));
  const render = (row) => row.map((cell, i) => (i >= 2 && i <= 4 ? String(cell).padStart(widths[i]) : String(cell).padEnd(widths[i]))).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const out = [render(rows[0]), rule];
  let previous = null;
  for (const row of rows.slice(1)) {
    if (previous !== null && row[0] !== previous) out.push('');
    out.push(render(row[0] === previous ? ['', ...row.slice(1)] : row));
    previous = row[0];
  }
  const errors = sections.filter((section) => section.error);
  if (errors.length > 0) {
    out.push('', 'errors:');
    for (const section of errors) out.push(`  ${section.name}: ${section.error.replace(/\n/g, '\n    ')}`);
  }
  return out.join('\n');
}

function machineInfo(redisVersion) {
  const cpus = os.cpus();
  return {
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    cpu_model: cpus[0]?.model?.trim() ?? 'unknown',
    cpu_count: cpus.length,
    total_mem_mb: Math.round(os.totalmem() / 1024 / 1024),
    node: process.version,
    redis_version: redisVersion,
  };
}

function writeJson(file, data) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
}

module.exports = { formatTable, machineInfo, writeJson };
