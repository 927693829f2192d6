"""The README's "One network, three rules" example runs as printed and every rule learns."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _block(title: str) -> str:
    text = README.read_text()
    section = text.split(f"## {title}\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_one_network_three_rules(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = _block("One network, three rules")
    exec(compile(code, "README.md", "exec"), {})
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split()[0] for ln in lines] == ["bptt", "eprop", "node"]
    for ln in lines:
        first, last = (float(v) for v in re.search(r"loss (\S+) -> (\S+),", ln).groups())
        assert last < first, ln  # every rule lowers the training loss
    for rule in ("bptt", "eprop", "node"):
        run = tmp_path / "runs" / "three-rules" / rule
        for name in ("config.json", "metrics.json", "history.csv", "checkpoint.pt", "last.pt"):
            assert (run / name).is_file(), (rule, name)
