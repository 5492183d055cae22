"""The threat model names tests that exist."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_security_doc_cites_existing_tests():
    text = (ROOT / "docs" / "security.md").read_text()
    cited = re.findall(r"`(test_\w+\.py)(?:::(test_\w+))?", text)
    assert len(cited) > 20

    missing = []
    for file_name, test_name in cited:
        path = ROOT / "tests" / file_name
        if not path.exists():
            missing.append(file_name)
        elif test_name and f"def {test_name}(" not in path.read_text():
            missing.append(f"{file_name}::{test_name}")

    assert missing == []
