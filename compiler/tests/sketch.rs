use cep_compiler::compile_str;

#[test]
fn sketch_compiles_cleanly() {
    let c = compile_str(
        "language-sketch.cep",
        include_str!("../../rules/language-sketch.cep"),
    );
    assert!(c.diagnostics.is_empty(), "{:#?}", c.diagnostics);
    let p = c.program.expect("program");
    let names: Vec<_> = p.patterns.iter().map(|p| p.name.as_str()).collect();
    // Crisis consumes Heatwave and NodeLost, so it comes after both.
    assert_eq!(names, ["Heatwave", "Rising", "NodeLost", "Crisis"]);
    let heat = p.event_by_name("Heatwave").unwrap();
    let fields: Vec<_> = p.events[heat as usize]
        .fields
        .iter()
        .map(|f| (f.name.as_str(), f.ty.name()))
        .collect();
    assert_eq!(
        fields,
        [("sensor", "str"), ("peak", "float"), ("dry", "float")]
    );
    let rising = p.event_by_name("Rising").unwrap();
    let fields: Vec<_> = p.events[rising as usize]
        .fields
        .iter()
        .map(|f| (f.name.as_str(), f.ty.name()))
        .collect();
    assert_eq!(
        fields,
        [
            ("sensor", "str"),
            ("gain", "float"),
            ("mean", "float"),
            ("n", "int")
        ]
    );
    assert_eq!(p.steps.len(), 2);
    assert_eq!(p.processes[0].activities.len(), 5);
    assert_eq!(p.processes[0].relations.len(), 9);
}
