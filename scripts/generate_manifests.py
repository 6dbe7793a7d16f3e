#!/usr/bin/env python3
"""Write deploy/crds/*.yaml, deploy/hub/*.yaml and deploy/agent/*.yaml from the definitions in
kubectl_clusternet/core.

python scripts/generate_manifests.py          # write the files
python scripts/generate_manifests.py --check  # exit 1 and name the files that differ
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kubectl_clusternet.core.manifests import DEPLOY_DIRECTORIES, render_deploy_files  # noqa: E402


def main(argv: list[str]) -> int:
    check = "--check" in argv
    wanted = render_deploy_files()
    stale = []
    for relative, text in wanted.items():
        path = ROOT / relative
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        stale.append(relative)
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    for directory in DEPLOY_DIRECTORIES:
        for path in sorted((ROOT / directory).glob("*.yaml")):
            relative = str(path.relative_to(ROOT))
            if relative not in wanted:
                stale.append(relative)
                if not check:
                    path.unlink()
    if check and stale:
        print("out of date (run scripts/generate_manifests.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
