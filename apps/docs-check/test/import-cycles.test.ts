import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ROOT } from './blocks.js';

/**
 * No module of a package's source imports itself back, through any chain of relative imports,
 * type-only ones included: a cycle is where a layer leaks into the one below it (an interface left
 * in an implementation file), and type-only cycles become value cycles the day someone needs the
 * class. Packages import each other by name, which the package graph already keeps acyclic.
 */

/** Every `src/**\/*.ts` of every package and app, absolute paths, sorted. */
function sourceFiles(): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') walk(path);
      } else if (/\.(c|m)?tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts')) {
        files.push(path);
      }
    }
  };
  for (const parent of ['packages', 'apps']) {
    for (const name of readdirSync(join(ROOT, parent))) {
      const src = join(ROOT, parent, name, 'src');
      if (statSync(src, { throwIfNoEntry: false })?.isDirectory()) walk(src);
    }
  }
  return files.sort();
}

/** The file a relative specifier names: `./x.js` is `./x.ts`, a folder is its `index.ts`. */
function resolveRelative(from: string, specifier: string): string | undefined {
  const base = resolve(dirname(from), specifier);
  const stem = base.replace(/\.(c|m)?jsx?$/, '');
  const candidates = [base, `${stem}.ts`, `${stem}.tsx`, `${stem}.mts`, `${stem}.cts`, join(base, 'index.ts'), join(base, 'index.tsx')];
  return candidates.find((path) => statSync(path, { throwIfNoEntry: false })?.isFile());
}

/** Each file's relative imports: static, type-only, re-exports and dynamic `import()` alike. */
export function importGraph(files: readonly string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const targets = new Set<string>();
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const target = resolveRelative(file, fileName);
      if (target === undefined) throw new Error(`${relative(ROOT, file)} imports ${fileName}, which is no file`);
      targets.add(target);
    }
    graph.set(file, [...targets].sort());
  }
  return graph;
}

/** One cycle through each strongly connected component of more than one file (or a self-import). */
export function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  // Tarjan's algorithm, iterative so a deep import chain cannot overflow the stack.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let next = 0;
  for (const root of graph.keys()) {
    if (index.has(root)) continue;
    const frames: Array<{ node: string; edge: number }> = [{ node: root, edge: 0 }];
    index.set(root, next);
    low.set(root, next++);
    stack.push(root);
    onStack.add(root);
    while (frames.length > 0) {
      const frame = frames[frames.length - 1]!;
      const edges = graph.get(frame.node) ?? [];
      if (frame.edge < edges.length) {
        const target = edges[frame.edge++]!;
        if (!index.has(target)) {
          index.set(target, next);
          low.set(target, next++);
          stack.push(target);
          onStack.add(target);
          frames.push({ node: target, edge: 0 });
        } else if (onStack.has(target)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, index.get(target)!));
        }
        continue;
      }
      frames.pop();
      const parent = frames[frames.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.node);
        const selfImport = component.length === 1 && (graph.get(member) ?? []).includes(member);
        if (component.length > 1 || selfImport) components.push(component);
      }
    }
  }
  return components.map((component) => shortestCycle(graph, new Set(component)));
}

/** The shortest cycle through the component's first file (sorted), staying inside the component. */
function shortestCycle(graph: ReadonlyMap<string, readonly string[]>, component: ReadonlySet<string>): string[] {
  const start = [...component].sort()[0]!;
  const cameFrom = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i]!;
    for (const target of graph.get(node) ?? []) {
      if (!component.has(target)) continue;
      if (target === start) {
        const path = [node];
        while (path[0] !== start) path.unshift(cameFrom.get(path[0]!)!);
        return [...path, start];
      }
      if (!cameFrom.has(target)) {
        cameFrom.set(target, node);
        queue.push(target);
      }
    }
  }
  return [start, start];
}

describe('import cycles', () => {
  it('finds one in a graph that has one, and none in one that has none', () => {
    const graph = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a', 'd']],
      ['d', []],
      ['e', ['e']],
    ]);
    expect(findCycles(graph)).toEqual([['a', 'b', 'c', 'a'], ['e', 'e']]);
    expect(findCycles(new Map([['a', ['b']], ['b', []]]))).toEqual([]);
  });

  it('reads type-only imports, re-exports and dynamic imports as edges', () => {
    const { importedFiles } = ts.preProcessFile(
      "import type { A } from './a.js';\nexport { b } from './b.js';\nexport type * from './c.js';\nconst d = () => import('./d.js');",
      true,
      true,
    );
    expect(importedFiles.map(({ fileName }) => fileName)).toEqual(['./a.js', './b.js', './c.js', './d.js']);
  });

  it("has none in any package's or app's src, type-only imports included", () => {
    const files = sourceFiles();
    expect(files.length).toBeGreaterThan(100);
    const cycles = findCycles(importGraph(files)).map((cycle) => cycle.map((file) => relative(ROOT, file)).join(' -> '));
    expect(cycles, `Import cycles (move what both files need into a file of its own):\n${cycles.join('\n')}`).toEqual([]);
  });
});
