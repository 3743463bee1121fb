//! Compile-time benchmark: a generated file of 1,000 patterns and 1,000
//! steps, parsed, checked and compiled to IR.

use cep_grammar::{FileId, SourceMap};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

fn sources(text: &str) -> SourceMap {
    let mut s = SourceMap::new();
    s.add("generated.cep", text);
    s
}

fn bench(c: &mut Criterion) {
    let text = cep_benches::generate(1000, 1000);
    let mut g = c.benchmark_group("compile 1000 patterns + 1000 steps");
    g.sample_size(20);
    g.bench_function("parse", |b| {
        b.iter(|| cep_grammar::parse(FileId(0), black_box(&text)))
    });
    g.bench_function("check", |b| {
        b.iter(|| cep_compiler::check(sources(black_box(&text))))
    });
    g.bench_function("compile", |b| {
        b.iter(|| cep_compiler::compile(sources(black_box(&text))))
    });
    g.bench_function("compile + JSON", |b| {
        b.iter(|| {
            cep_compiler::compile(sources(black_box(&text)))
                .program
                .map(|p| p.to_json())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
