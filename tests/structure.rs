//! The crate's shape, checked as a test anyone can run (`cargo test --test suite
//! structure::`): imports between the files under `src/` run one way (no
//! circle), and no production file is longer than a newcomer can hold.
//!
//! The module graph is read from the text, as `.ci`'s modgraph.py reads it:
//! every `crate::…` and `super::…` path (in `use` lines and in code, brace
//! groups included) is an edge from the file it is in to the file of the
//! longest module prefix it names. An edge from a module to one of its own
//! ancestors is the re-export path (`use super::Thing` in a child module)
//! and never closes a circle. Unlike modgraph.py, comments are skipped: a
//! doc link is not an import.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The most lines of code a production file may have.
const MAX_LINES: usize = 700;

/// A module, by its path under `src/` (`["schedule", "slots"]`; the crate
/// root is empty; `main.rs`, a crate of its own, is `["main.rs"]`).
type Module = Vec<String>;

/// One import that is part of a circle: from which file, at which line, the
/// path as written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Import {
    from: String,
    to: String,
    line: usize,
    path: String,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Findings {
    /// Each circle: its files, and the imports between them.
    circles: Vec<(Vec<String>, Vec<Import>)>,
    /// Each production file over the limit, with its lines of code.
    long_files: Vec<(String, usize)>,
}

impl Findings {
    fn report(&self) -> String {
        let mut text = String::new();
        for (files, imports) in &self.circles {
            text.push_str(&format!(
                "import circle between {}: make the imports run one way (move what both need \
                 into the lower module, or import it from where it is defined)\n",
                files.join(", ")
            ));
            for import in imports {
                text.push_str(&format!(
                    "    {}:{} imports {} ({})\n",
                    import.from, import.line, import.to, import.path
                ));
            }
        }
        for (file, lines) in &self.long_files {
            text.push_str(&format!(
                "long file: {file} has {lines} lines of code, more than {MAX_LINES}\n"
            ));
        }
        if !self.long_files.is_empty() {
            text.push_str(
                "    split long files along their jobs; blank lines, comments and the test module \
                 are not counted, and long tests go in a tests.rs of their own\n",
            );
        }
        text
    }
}

/// The module a file under `src/` is (`a/b.rs` and `a/b/mod.rs` are both
/// `a::b`).
fn module_of(relative: &Path) -> Module {
    let mut parts: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    match parts.last().map(String::as_str) {
        Some("main") if parts.len() == 1 => vec!["main.rs".to_string()],
        Some("mod" | "lib") => {
            parts.pop();
            parts
        }
        _ => parts,
    }
}

fn is_test_file(relative: &Path, module: &Module) -> bool {
    relative.file_name().is_some_and(|n| n == "tests.rs") || module.iter().any(|p| p == "tests")
}

/// The file's text without its test module: everything from the first
/// `#[cfg(test)] mod name {`, which by custom closes the file.
fn production_text(text: &str) -> &str {
    let mut from = 0;
    while let Some(at) = text[from..].find("#[cfg(test)]") {
        let start = from + at;
        let rest = text[start + "#[cfg(test)]".len()..].trim_start();
        let rest = rest.strip_prefix("pub").map_or(rest, |r| {
            let r = r.trim_start();
            match r.strip_prefix('(') {
                Some(inner) => inner.split_once(')').map_or(r, |(_, after)| after),
                None => r,
            }
            .trim_start()
        });
        if let Some(after_mod) = rest.strip_prefix("mod ") {
            let after_name = after_mod
                .trim_start()
                .trim_start_matches(|c: char| c.is_alphanumeric() || c == '_');
            if after_name.trim_start().starts_with('{') {
                return &text[..start];
            }
        }
        from = start + 1;
    }
    text
}

/// Lines of code: not blank and not starting with `//` (doc comments too).
fn lines_of_code(text: &str) -> usize {
    text.lines()
        .filter(|l| {
            let l = l.trim();
            !l.is_empty() && !l.starts_with("//")
        })
        .count()
}

/// A line without its comment. A `//` inside a string (an address) is kept:
/// it counts as a comment only after an even number of quotes.
fn without_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    let mut quotes = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'"' => quotes += 1,
            b'/' if quotes % 2 == 0 && bytes.get(i + 1) == Some(&b'/') => return &line[..i],
            _ => {}
        }
        i += 1;
    }
    line
}

/// Every module path a text names after `crate::` or `super::`, with the
/// line it is on; brace groups (`crate::{a::X, b::{c, d}}`) are expanded.
fn paths_in(text: &str, module: &Module) -> Vec<(usize, Vec<String>, String)> {
    let mut found = Vec::new();
    let mut in_block_comment = false;
    for (number, line) in text.lines().enumerate() {
        let mut code = line;
        if in_block_comment {
            match code.find("*/") {
                Some(end) => {
                    code = &code[end + 2..];
                    in_block_comment = false;
                }
                None => continue,
            }
        }
        if let Some(start) = code.find("/*") {
            in_block_comment = !code[start..].contains("*/");
            code = &code[..start];
        }
        let code = without_comment(code);
        // A `use` may run over several lines: read on to its `;`.
        let joined;
        let open_group = code.matches('{').count() > code.matches('}').count();
        let code = if open_group && code.contains("use ") {
            let rest: String = text
                .lines()
                .skip(number)
                .map(without_comment)
                .collect::<Vec<_>>()
                .join(" ");
            joined = rest.split(';').next().unwrap_or_default().to_string();
            joined.as_str()
        } else {
            code
        };
        for (path, written) in paths_on_line(code, module) {
            found.push((number + 1, path, written));
        }
    }
    found.sort();
    found.dedup();
    found
}

fn paths_on_line(code: &str, module: &Module) -> Vec<(Vec<String>, String)> {
    let mut found = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let starts_word = i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        if !starts_word {
            i += 1;
            continue;
        }
        let word: String = chars[i..]
            .iter()
            .take_while(|c| c.is_alphanumeric() || **c == '_')
            .collect();
        if word != "crate" && word != "super" {
            i += word.chars().count().max(1);
            continue;
        }
        // The base the path starts from, and the rest of the path.
        let mut base: Module = if word == "crate" {
            Vec::new()
        } else {
            module[..module.len().saturating_sub(1)].to_vec()
        };
        let mut j = i + word.chars().count();
        while chars[j..].starts_with(&[':', ':']) {
            let next: String = chars[j + 2..]
                .iter()
                .take_while(|c| c.is_alphanumeric() || **c == '_')
                .collect();
            if next == "super" {
                base.pop();
                j += 2 + next.chars().count();
            } else {
                break;
            }
        }
        let (tails, end) = use_tree(&chars, j);
        let written: String = chars[i..end].iter().collect();
        for tail in tails {
            let mut path = base.clone();
            path.extend(tail);
            found.push((path, written.clone()));
        }
        i = end.max(i + 1);
    }
    found
}

/// Reads `::a::b`, `::{a, b::c}` or `::a::{…}` from `at`: the paths it
/// names and where it ends.
fn use_tree(chars: &[char], at: usize) -> (Vec<Vec<String>>, usize) {
    let mut prefix = Vec::new();
    let mut i = at;
    loop {
        if !chars[i..].starts_with(&[':', ':']) {
            return (vec![prefix], i);
        }
        i += 2;
        while chars.get(i) == Some(&' ') {
            i += 1;
        }
        if chars.get(i) == Some(&'{') {
            let mut paths = Vec::new();
            i += 1;
            loop {
                while matches!(chars.get(i), Some(' ' | ',')) {
                    i += 1;
                }
                match chars.get(i) {
                    None => return (paths, i),
                    Some('}') => return (paths, i + 1),
                    _ => {}
                }
                // Each member reads like a path after `::`.
                let name: String = chars[i..]
                    .iter()
                    .take_while(|c| c.is_alphanumeric() || **c == '_')
                    .collect();
                if name.is_empty() {
                    // `*`, `self` spelt otherwise, or something unexpected:
                    // skip one character rather than loop for ever.
                    i += 1;
                    continue;
                }
                i += name.chars().count();
                let (tails, end) = use_tree(chars, i);
                for tail in tails {
                    let mut path = prefix.clone();
                    if name != "self" {
                        path.push(name.clone());
                    }
                    path.extend(tail);
                    paths.push(path);
                }
                i = end;
                // `as alias`
                while chars.get(i) == Some(&' ') {
                    i += 1;
                }
                if chars[i..].starts_with(&['a', 's', ' ']) {
                    i += 3;
                    while chars
                        .get(i)
                        .is_some_and(|c| c.is_alphanumeric() || *c == '_' || *c == ' ')
                    {
                        i += 1;
                    }
                }
            }
        }
        let name: String = chars[i..]
            .iter()
            .take_while(|c| c.is_alphanumeric() || **c == '_')
            .collect();
        if name.is_empty() {
            return (vec![prefix], i);
        }
        i += name.chars().count();
        prefix.push(name);
    }
}

/// The module graph of the files (path under `src/`, text), its circles and
/// its long files.
fn check(files: &[(PathBuf, String)]) -> Findings {
    let modules: BTreeMap<Module, String> = files
        .iter()
        .map(|(path, _)| (module_of(path), path.display().to_string()))
        .collect();
    let resolve = |path: &[String]| {
        (1..=path.len())
            .rev()
            .map(|k| path[..k].to_vec())
            .find(|prefix| modules.contains_key(prefix))
    };
    let mut findings = Findings::default();
    let mut edges: BTreeMap<Module, BTreeMap<Module, Import>> = BTreeMap::new();
    for (path, text) in files {
        let module = module_of(path);
        if is_test_file(path, &module) {
            continue;
        }
        let text = production_text(text);
        let lines = lines_of_code(text);
        if lines > MAX_LINES {
            findings
                .long_files
                .push((path.display().to_string(), lines));
        }
        let from = edges.entry(module.clone()).or_default();
        for (line, named, written) in paths_in(text, &module) {
            let Some(target) = resolve(&named) else {
                continue;
            };
            let is_ancestor = target.len() < module.len() && module.starts_with(&target);
            if target == module || is_ancestor {
                continue;
            }
            from.entry(target.clone()).or_insert_with(|| Import {
                from: path.display().to_string(),
                to: modules[&target].clone(),
                line,
                path: written,
            });
        }
    }
    for circle in strongly_connected(&edges) {
        let members: BTreeSet<&Module> = circle.iter().collect();
        let imports = circle
            .iter()
            .flat_map(|m| edges[m].iter())
            .filter(|(to, _)| members.contains(to))
            .map(|(_, import)| import.clone())
            .collect();
        let files = circle.iter().map(|m| modules[m].clone()).collect();
        findings.circles.push((files, imports));
    }
    findings
        .long_files
        .sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    findings
}

/// The groups of two or more modules that import each other round a circle
/// (Tarjan's strongly connected components), each sorted, in order.
fn strongly_connected(edges: &BTreeMap<Module, BTreeMap<Module, Import>>) -> Vec<Vec<Module>> {
    struct Tarjan<'a> {
        edges: &'a BTreeMap<Module, BTreeMap<Module, Import>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        found: Vec<Vec<Module>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a Module) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            let edges = self.edges;
            for w in edges.get(v).into_iter().flat_map(|e| e.keys()) {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut group = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    group.push(w.clone());
                    if w == v {
                        break;
                    }
                }
                if group.len() > 1 {
                    group.sort();
                    self.found.push(group);
                }
            }
        }
    }
    let mut walk = Tarjan {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !walk.index.contains_key(v) {
            walk.visit(v);
        }
    }
    walk.found.sort();
    walk.found
}

/// Every `.rs` file under `dir`, as (path under `root`, text).
fn read_tree(root: &Path, dir: &Path, files: &mut Vec<(PathBuf, String)>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .path();
        if path.is_dir() {
            read_tree(root, &path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let relative = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            files.push((relative, text));
        }
    }
}

#[test]
fn imports_run_one_way_and_files_stay_short() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    read_tree(&src, &src, &mut files);
    files.sort();
    assert!(
        files.len() > 10,
        "only {} files under {}",
        files.len(),
        src.display()
    );
    let findings = check(&files);
    assert!(
        findings == Findings::default(),
        "the crate's structure needs work ({} circles, {} long files):\n{}",
        findings.circles.len(),
        findings.long_files.len(),
        findings.report()
    );
}

/// The check itself, on a made-up crate: it must fail where it should, and
/// only there.
#[test]
fn the_check_finds_a_made_up_circle_and_long_file() {
    let code = |lines: usize| -> String {
        (0..lines)
            .map(|i| format!("pub const C{i}: u32 = {i};\n"))
            .collect()
    };
    let padding = "\n// a comment\n/// a doc comment\n\n".repeat(50);
    let tests = format!("#[cfg(test)]\nmod tests {{\n{}}}\n", code(100));
    let files: Vec<(PathBuf, String)> = [
        (
            "lib.rs",
            "pub mod deck;\npub mod names;\npub mod plan;\npub mod log;\n".to_string(),
        ),
        // Bad input: names -> plan -> deck/shuffle -> names, the last through
        // a brace group over two lines.
        (
            "names.rs",
            "use crate::plan::Plan;\npub fn slug() {}\n".to_string(),
        ),
        (
            "plan.rs",
            "pub struct Plan;\nfn f() { crate::deck::shuffle::deal(); }\n".to_string(),
        ),
        ("deck/mod.rs", "pub mod shuffle;\n".to_string()),
        (
            "deck/shuffle.rs",
            "use super::super::{\n    names::slug,\n};\n// use crate::log::Nothing;\npub fn deal() {}\n"
                .to_string(),
        ),
        // Not a circle: a child importing from its parent module, and a
        // parent from its child.
        ("log/mod.rs", "pub mod rows;\nuse self::rows::Row;\npub struct Entry;\nuse crate::log::rows::Row as R;\n".to_string()),
        ("log/rows.rs", "use super::Entry;\npub struct Row;\n".to_string()),
        // Bad input: 701 lines of code, with comments, blank lines and a test
        // module that do not count.
        ("long.rs", format!("{padding}{}{padding}{tests}", code(701))),
        // Exactly at the limit, and long tests: both fine.
        ("edge.rs", format!("{}{tests}", code(700))),
        ("deck/tests.rs", code(2000)),
    ]
    .into_iter()
    .map(|(path, text)| (PathBuf::from(path), text))
    .collect();

    let findings = check(&files);
    let report = findings.report();
    assert_eq!(
        findings.long_files,
        [("long.rs".to_string(), 701)],
        "{report}"
    );
    assert_eq!(findings.circles.len(), 1, "{report}");
    let (members, imports) = &findings.circles[0];
    assert_eq!(
        members,
        &["deck/shuffle.rs", "names.rs", "plan.rs"],
        "{report}"
    );
    let lines: Vec<String> = imports
        .iter()
        .map(|i| format!("{}:{} -> {}", i.from, i.line, i.to))
        .collect();
    assert_eq!(
        lines,
        [
            "deck/shuffle.rs:1 -> names.rs",
            "names.rs:1 -> plan.rs",
            "plan.rs:2 -> deck/shuffle.rs",
        ],
        "{report}"
    );
    assert!(
        report.contains("import circle between deck/shuffle.rs, names.rs, plan.rs")
            && report.contains("long file: long.rs has 701 lines of code, more than 700"),
        "{report}"
    );

    // Breaking the circle (the slug moves down into deck) and shortening the
    // file leaves nothing to report.
    let mended: Vec<(PathBuf, String)> = files
        .into_iter()
        .map(|(path, text)| match path.to_str() {
            Some("deck/shuffle.rs") => (path, "pub fn deal() {}\n".to_string()),
            Some("long.rs") => (path, code(10)),
            _ => (path, text),
        })
        .collect();
    assert_eq!(check(&mended), Findings::default());
}
