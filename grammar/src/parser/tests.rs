//! Tests of the parser.

use super::*;

fn ok(src: &str) -> File {
    let p = parse(FileId(0), src);
    assert!(p.errors.is_empty(), "{:#?}", p.errors);
    p.file
}

#[test]
fn parses_the_sketch() {
    let f = ok(include_str!("../../../rules/language-sketch.cep"));
    assert_eq!(f.decls.len(), 19);
    assert!(f.comments.len() > 20);
}

#[test]
fn precedence() {
    let f = ok("pattern P { a: T where x + 1 * 2 > 3 and not y or z emit { } }");
    let DeclKind::Pattern(p) = &f.decls[0].node else {
        panic!()
    };
    let PatternItem::Block(b) = &p.items[0].node else {
        panic!()
    };
    let Some(e) = &b.predicate else { panic!() };
    let ExprKind::Binary(BinOp::Or, l, _) = &e.node else {
        panic!("{e:?}")
    };
    let ExprKind::Binary(BinOp::And, cmp, not) = &l.node else {
        panic!()
    };
    assert!(matches!(not.node, ExprKind::Unary(UnOp::Not, _)));
    let ExprKind::Binary(BinOp::Gt, sum, _) = &cmp.node else {
        panic!()
    };
    let ExprKind::Binary(BinOp::Add, _, prod) = &sum.node else {
        panic!()
    };
    assert!(matches!(prod.node, ExprKind::Binary(BinOp::Mul, _, _)));
}

#[test]
fn reports_each_broken_declaration() {
    let src =
        "event A { x: int }\nevent B { y int }\npattern P {\n  a: A where\n}\nevent C { z: str }\n";
    let p = parse(FileId(0), src);
    assert_eq!(p.errors.len(), 2, "{:#?}", p.errors);
    let names: Vec<_> = p.file.decls.iter().map(|d| d.name().node.clone()).collect();
    assert_eq!(names, ["A", "C"]);
    assert!(
        p.errors[0].message.contains("expected"),
        "{}",
        p.errors[0].message
    );
    assert!(!p.errors[0].message.contains("field_decl"));
}

#[test]
fn long_prefix_and_infix_chains_are_errors_not_crashes() {
    for body in [
        format!("{}v > 0", "-".repeat(20_000)),
        format!("{}v", "not ".repeat(20_000)),
        format!("v{}", " + v".repeat(20_000)),
    ] {
        let src = format!("pattern P {{ a: T where {body} }}");
        let p = parse(FileId(0), &src);
        assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
        assert!(
            p.errors[0].message.contains("too long"),
            "{}",
            p.errors[0].message
        );
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let src = format!(
        "pattern P {{ a: T where {}x{} }}",
        "(".repeat(5000),
        ")".repeat(5000)
    );
    let p = parse(FileId(0), &src);
    assert_eq!(p.errors.len(), 1);
    let long = format!("pattern P {{ a: T where x{} }}", " + x".repeat(5000));
    let p = parse(FileId(0), &long);
    assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
}
