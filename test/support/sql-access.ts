/**
 * Which tables and columns one SQL statement reads, inserts and updates, as SQL Server's column
 * permissions see them: UPDATE on every SET column; SELECT on every column a select list, WHERE, ON,
 * ORDER BY or SET expression names (including `*`); INSERT on the table (the column list is kept
 * too, since doctor checks those columns exist). Enough SQL for what the adapters write (SELECT,
 * INSERT … VALUES, UPDATE … SET … WHERE, joins, aliases, nested SELECTs, derived tables), not a
 * general parser: a statement it cannot read throws, so a new kind of statement is noticed.
 */

export type AccessKind = 'read' | 'insert' | 'update';

export interface ColumnAccess {
  kind: AccessKind;
  /** The table's name as the statement spells it, upper-cased. */
  table: string;
  /** Upper-cased; '' for a table used without naming a column (SELECT 1 FROM …, INSERT). */
  column: string;
}

/** Table (upper case) → its columns (upper case). */
export type SchemaColumns = Map<string, Set<string>>;

const CLAUSE = new Set(['WHERE', 'ON', 'SET', 'LEFT', 'RIGHT', 'INNER', 'OUTER', 'CROSS', 'FULL', 'JOIN', 'ORDER', 'GROUP', 'HAVING', 'LIMIT', 'VALUES', 'SELECT', 'UNION', 'WITH', 'OPTION', 'AS']);

interface Scope {
  parent: Scope | undefined;
  /** Alias or table name → table. */
  tables: Map<string, string>;
  refs: { qualifier?: string; column: string }[];
  star: boolean;
}

export function columnAccess(sql: string, schema: SchemaColumns): ColumnAccess[] {
  const text = sql
    .replace(/--[^\n]*/g, ' ')
    .replace(/'(?:[^']|'')*'/g, " '' ")
    .replace(/@\w+/g, ' @p ')
    .replace(/\?/g, ' @p ');
  const tokens = (text.match(/[A-Za-z_][\w]*(?:\.(?:[A-Za-z_]\w*|\*))?|''|@p|[(),=*]|[^\s\w]/g) ?? []).map((t) => t.toUpperCase());
  const out: ColumnAccess[] = [];
  const root: Scope = { parent: undefined, tables: new Map(), refs: [], star: false };
  const scopes: Scope[] = [root];
  /** Per open parenthesis: whether it opened a scope (a nested SELECT). */
  const parens: boolean[] = [];
  let scope = root;
  let setDepth: number | undefined;
  let updated: string | undefined;

  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] as string;
    const next = tokens[i + 1];
    if (t === '(') {
      const opens = next === 'SELECT';
      parens.push(opens);
      if (opens) {
        scope = { parent: scope, tables: new Map(), refs: [], star: false };
        scopes.push(scope);
      }
      continue;
    }
    if (t === ')') {
      if (parens.pop() && scope.parent) scope = scope.parent;
      continue;
    }
    if ((t === 'FROM' || t === 'JOIN' || t === 'UPDATE' || t === 'INTO') && next && schema.has(next)) {
      const table = next;
      scope.tables.set(table, table);
      i++;
      let alias = tokens[i + 1];
      if (alias === 'AS') {
        i++;
        alias = tokens[i + 1];
      }
      if (alias && /^[A-Z_]\w*$/.test(alias) && !CLAUSE.has(alias)) {
        scope.tables.set(alias, table);
        i++;
      }
      if (t === 'UPDATE') updated = table;
      if (t === 'INTO') {
        out.push({ kind: 'insert', table, column: '' });
        if (tokens[i + 1] === '(') {
          i += 2;
          for (; i < tokens.length && tokens[i] !== ')'; i++) if (tokens[i] !== ',') out.push({ kind: 'insert', table, column: tokens[i] as string });
        }
      } else if (t !== 'UPDATE') {
        out.push({ kind: 'read', table, column: '' });
      }
      continue;
    }
    if (t === 'SET' && updated) {
      setDepth = parens.length;
      i = setColumn(tokens, i, updated, out);
      continue;
    }
    if (setDepth !== undefined && parens.length === setDepth) {
      if (t === ',') {
        i = setColumn(tokens, i, updated as string, out);
        continue;
      }
      if (t === 'WHERE') setDepth = undefined;
    }
    if (t === 'AS') {
      i++; // the alias a select list or derived table gives: no column
      continue;
    }
    if (t === '*') {
      if (tokens[i - 1] === 'SELECT') scope.star = true;
      continue;
    }
    if (!/^[A-Z_]/.test(t) || next === '(') continue; // punctuation, parameters, function names
    const dot = t.indexOf('.');
    scope.refs.push(dot < 0 ? { column: t } : { qualifier: t.slice(0, dot), column: t.slice(dot + 1) });
  }

  for (const s of scopes) {
    if (s.star) for (const table of new Set(s.tables.values())) for (const column of schema.get(table) ?? []) out.push({ kind: 'read', table, column });
    for (const ref of s.refs) {
      for (let at: Scope | undefined = s; at; at = at.parent) {
        if (ref.qualifier !== undefined) {
          const table = at.tables.get(ref.qualifier);
          if (!table) continue;
          if (ref.column === '*') for (const column of schema.get(table) ?? []) out.push({ kind: 'read', table, column });
          else if (schema.get(table)?.has(ref.column)) out.push({ kind: 'read', table, column: ref.column });
          else throw new Error(`${ref.qualifier}.${ref.column}: ${table} has no such column in: ${sql}`);
          break;
        }
        const having = [...new Set(at.tables.values())].filter((table) => schema.get(table)?.has(ref.column));
        if (having.length === 0) continue;
        for (const table of having) out.push({ kind: 'read', table, column: ref.column });
        break;
      }
    }
  }
  return out;
}

/** `SET a = …` / `, b = …`: records the column as updated and returns the index of its `=`. */
function setColumn(tokens: string[], at: number, table: string, out: ColumnAccess[]): number {
  const column = tokens[at + 1];
  if (!column || tokens[at + 2] !== '=') throw new Error(`cannot read the SET list at "${tokens.slice(at, at + 4).join(' ')}"`);
  out.push({ kind: 'update', table, column });
  return at + 2;
}
