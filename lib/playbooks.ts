import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import ts from 'typescript';
import { MODES, type Mode } from './modes.js';

/** One step of a playbook: the name the harness records, the activities it runs and those that undo it. */
export interface PlaybookStep {
  readonly name: string;
  readonly activities: string[];
  readonly compensation: string[];
  /** Observe mode runs it for real: it only inspects. */
  readonly inspects: boolean;
}

/** A mode's playbook: how it is detected, what its workflow does, and how each step is undone. */
export interface Playbook {
  readonly mode: Mode;
  readonly detection: string;
  readonly remediation: string;
  readonly steps: PlaybookStep[];
  readonly workflowFile: string;
  readonly detectorFile: string;
}

const root = new URL('../', import.meta.url).pathname;

/**
 * The playbook registry, read from the code itself so it cannot drift from it: for each mode,
 * the TSDoc of its detector and workflow, and every `ctx.step` / `ctx.verify` of the workflow file
 * with the activities its run and undo functions call (through local helpers too).
 */
export function playbooks(dir = root): Playbook[] {
  return MODES.map((mode) => playbookOf(mode, dir));
}

function playbookOf(mode: Mode, dir: string): Playbook {
  const workflowFile = join('workflows', `${mode}.ts`);
  const detectorFile = join('detectors', `${mode}.ts`);
  const workflow = parse(join(dir, workflowFile));
  const detector = parse(join(dir, detectorFile));
  return {
    mode,
    detection: docOf(detector, (n) => /^create\w*Detector$/.test(n) || /Detector$/.test(n)),
    remediation: docOf(workflow, () => true),
    steps: stepsOf(workflow),
    workflowFile,
    detectorFile,
  };
}

function parse(file: string): ts.SourceFile {
  return ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
}

/** The first TSDoc paragraph of the first exported function or class whose name passes `wanted`. */
function docOf(source: ts.SourceFile, wanted: (name: string) => boolean): string {
  for (const statement of source.statements) {
    if (!(ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement)) || !statement.name) continue;
    const exported = ts.getCombinedModifierFlags(statement) & ts.ModifierFlags.Export;
    if (!exported || !wanted(statement.name.text)) continue;
    const docs = ts.getJSDocCommentsAndTags(statement).filter(ts.isJSDoc);
    const comment = docs[docs.length - 1]?.comment;
    const text = typeof comment === 'string' ? comment : (comment?.map((c) => c.text).join('') ?? '');
    return text.split('\n\n')[0]?.replace(/\s+/g, ' ').trim() ?? '';
  }
  return '';
}

/** Every `ctx.step(...)` and `ctx.verify(...)` in source order, with the activities each calls. */
function stepsOf(source: ts.SourceFile): PlaybookStep[] {
  const imported = importedHelpers(source);
  const proxies = new Set([...proxyNames(source), ...imported.proxies]);
  const locals = new Map([...localFunctions(source), ...imported.helpers]);
  const steps: PlaybookStep[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression)) {
      const method = node.expression.name.text;
      if ((method === 'step' || method === 'verify') && node.arguments.length >= 2) {
        const [nameArg, run, undo, options] = node.arguments;
        const activities = (n: ts.Node | undefined) => (n ? calls(n, proxies, locals) : []);
        for (const name of stepNames(nameArg, source)) {
          const tuple = name.tuple;
          steps.push({
            name: name.text,
            activities: tuple ? activities(tuple[1]) : activities(run),
            compensation: tuple ? activities(tuple[2]) : activities(undo),
            inspects: options !== undefined && /inspect/.test(options.getText(source)),
          });
        }
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return steps;
}

/** Identifiers bound to `proxyActivities(...)` / `proxyLocalActivities(...)`, and child workflows. */
function proxyNames(source: ts.SourceFile): Set<string> {
  const names = new Set<string>();
  const visit = (node: ts.Node) => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.initializer) {
      const init = node.initializer.getText(source);
      if (/^proxy(Local)?Activities\b/.test(init)) names.add(node.name.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return names;
}

/** Functions and arrow functions declared in the file, by name (helpers such as `relieve`). */
function localFunctions(source: ts.SourceFile): Map<string, ts.Node> {
  const found = new Map<string, ts.Node>();
  const visit = (node: ts.Node) => {
    if (ts.isFunctionDeclaration(node) && node.name) found.set(node.name.text, node);
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.initializer) {
      if (ts.isArrowFunction(node.initializer) || ts.isFunctionExpression(node.initializer))
        found.set(node.name.text, node.initializer);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/**
 * The functions of exported object literals in sibling workflow files the workflow imports
 * (`undoRelief.concurrency`, shared by a rollback and `guardian clear`), by `object.property`,
 * and the activity proxies of those files.
 */
function importedHelpers(source: ts.SourceFile): { helpers: Map<string, ts.Node>; proxies: Set<string> } {
  const helpers = new Map<string, ts.Node>();
  const proxies = new Set<string>();
  for (const statement of source.statements) {
    if (!ts.isImportDeclaration(statement) || !ts.isStringLiteral(statement.moduleSpecifier)) continue;
    const file = join(dirname(source.fileName), statement.moduleSpecifier.text.replace(/\.js$/, '.ts'));
    if (statement.importClause?.isTypeOnly || !statement.moduleSpecifier.text.startsWith('./') || !existsSync(file))
      continue;
    const sibling = parse(file);
    for (const name of proxyNames(sibling)) proxies.add(name);
    for (const declared of sibling.statements) {
      if (!ts.isVariableStatement(declared) || !declared.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword))
        continue;
      for (const d of declared.declarationList.declarations) {
        if (!ts.isIdentifier(d.name) || !d.initializer || !ts.isObjectLiteralExpression(d.initializer)) continue;
        for (const prop of d.initializer.properties)
          if (ts.isPropertyAssignment(prop))
            helpers.set(`${d.name.text}.${prop.name.getText(sibling)}`, prop.initializer);
      }
    }
  }
  return { helpers, proxies };
}

/** Activities (`proxy.activity(...)`) and child workflows (`executeChild(x)`, `startChild(x)`) called under `node`. */
function calls(node: ts.Node, proxies: Set<string>, locals: Map<string, ts.Node>, seen = new Set<string>()): string[] {
  const out: string[] = [];
  const visit = (n: ts.Node) => {
    if (ts.isCallExpression(n)) {
      const callee = n.expression;
      if (
        ts.isPropertyAccessExpression(callee) &&
        ts.isIdentifier(callee.expression) &&
        proxies.has(callee.expression.text)
      )
        out.push(callee.name.text);
      else if (ts.isIdentifier(callee) && /^(executeChild|startChild)$/.test(callee.text) && n.arguments[0])
        out.push(`${n.arguments[0].getText()} (child workflow)`);
      else if (ts.isIdentifier(callee) && locals.has(callee.text) && !seen.has(callee.text)) {
        seen.add(callee.text);
        out.push(...calls(locals.get(callee.text) as ts.Node, proxies, locals, seen));
      } else if (ts.isPropertyAccessExpression(callee) && ts.isIdentifier(callee.expression)) {
        const helper = `${callee.expression.text}.${callee.name.text}`;
        if (locals.has(helper) && !seen.has(helper)) {
          seen.add(helper);
          out.push(...calls(locals.get(helper) as ts.Node, proxies, locals, seen));
        }
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(node);
  return [...new Set(out)];
}

/**
 * The names a step's first argument stands for: a literal, a template (`disable-${name}` →
 * `disable-<name>`), a call such as `named('restart')`, or an identifier bound by a loop over
 * `[name, run, undo]` tuples (each tuple is then a step of its own).
 */
function stepNames(
  arg: ts.Node | undefined,
  source: ts.SourceFile,
): { text: string; tuple?: ts.NodeArray<ts.Expression> }[] {
  if (!arg) return [];
  if (ts.isStringLiteralLike(arg)) return [{ text: arg.text }];
  if (ts.isTemplateExpression(arg)) {
    const parts = arg.templateSpans.map((s) => `<${s.expression.getText(source)}>${s.literal.text}`);
    return [{ text: `${arg.head.text}${parts.join('')}` }];
  }
  if (ts.isCallExpression(arg) && arg.arguments[0]) return stepNames(arg.arguments[0], source);
  if (ts.isIdentifier(arg)) {
    const tuples: { text: string; tuple: ts.NodeArray<ts.Expression> }[] = [];
    const visit = (n: ts.Node) => {
      if (ts.isArrayLiteralExpression(n) && n.elements.length === 3 && ts.isStringLiteralLike(n.elements[0] as ts.Node))
        tuples.push({ text: (n.elements[0] as ts.StringLiteral).text, tuple: n.elements });
      ts.forEachChild(n, visit);
    };
    visit(source);
    return tuples;
  }
  return [{ text: arg.getText(source) }];
}
