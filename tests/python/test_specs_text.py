"""The specs as Python reads them (orchestration/specs.py): the publication records every
rule version, `recon train` and the lab read the comparisons. A spec whose YAML holds a
Jinja expression unquoted (a dialect macro's SQL) must still load."""

from __future__ import annotations

from orchestration import specs


def test_every_configured_spec_loads_with_its_rule_version() -> None:
    versions = specs.rule_versions()
    assert set(versions) == set(specs.configured()) and len(versions) >= 4
    for name, version in versions.items():
        assert version.startswith(f"{name}.v"), (name, version)
        spec = specs.load_spec(name)
        assert isinstance(spec["left"]["columns"], dict) and isinstance(spec["right"]["columns"], dict)


def test_an_unquoted_jinja_expression_is_read_as_its_source_text(tmp_path, monkeypatch) -> None:
    (tmp_path / "spec__demo.sql").write_text(
        "{% macro spec__demo() %}\n{% set spec_yaml %}\n"
        "name: demo\nrule_version: demo.v1\n"
        "left:\n  columns:\n    quoted: \"{{ client_initials('a') }}\"\n"
        "    bare: {{ recon_list_join('x', \"' '\") | tojson }}\n"
        "where: >-\n  a = b\n  or {{ recon_starts_with('l.name', \"r.hint || ' '\") }})\n"
        "{% endset %}\n{{ return(fromyaml(spec_yaml)) }}\n{% endmacro %}\n"
    )
    monkeypatch.setattr(specs, "SPEC_DIR", tmp_path)
    spec = specs.load_spec("demo")
    assert spec["left"]["columns"]["quoted"] == "{{ client_initials('a') }}"
    assert spec["left"]["columns"]["bare"] == "{{ recon_list_join('x', \"' '\") | tojson }}"
    assert spec["where"].startswith("a = b or ") and "recon_starts_with" in spec["where"]
