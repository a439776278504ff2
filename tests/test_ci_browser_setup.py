""".ci/run installs the browser test's packages only when they are missing, and only as root
with apt-get; the check is run here with stand-in ``chromium`` and ``fc-list`` commands."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = (REPO / ".ci" / "run").read_text(encoding="utf-8")


def _packages(tmp_path: Path, *, chromium: bool, fonts: str, ja: bool) -> list[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    if chromium:
        (bin_dir / "chromium").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "fc-list").write_text(
        '#!/bin/sh\nif [ "$1" = ":lang=ja" ]; then '
        + ("echo /usr/share/fonts/NotoSansCJK-Regular.ttc" if ja else "true")
        + f'; else echo "{fonts}"; fi\n'
    )
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    function = re.search(r"^browser_packages\(\) \{.*?^\}", SCRIPT, re.S | re.M).group(0)
    proc = subprocess.run(
        ["/bin/bash", "-c", f"{function}\nbrowser_packages"],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.split()


@pytest.mark.skipif(not Path("/bin/bash").exists(), reason="needs bash")
def test_only_missing_packages_are_listed(tmp_path):
    listed = _packages(tmp_path / "a", chromium=True, fonts="NotoColorEmoji.ttf: Noto Color Emoji",
                       ja=True)  # fmt: skip
    assert listed == []
    listed = _packages(tmp_path / "b", chromium=True, fonts="DejaVuSans.ttf: DejaVu Sans", ja=False)
    assert listed == ["fonts-noto-color-emoji", "fonts-noto-cjk"]


def test_install_only_as_root_with_apt_and_never_fails_the_run():
    install = SCRIPT[SCRIPT.index("missing=") : SCRIPT.index("python3.11 -m venv")]
    assert '[ "$(id -u)" -eq 0 ]' in install and "command -v apt-get" in install
    assert "|| true" in install  # no network or mirror: the browser test skips, CI goes on
    assert subprocess.run(["/bin/bash", "-n", str(REPO / ".ci" / "run")]).returncode == 0
