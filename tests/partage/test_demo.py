"""The README's demo: the IdP, the consent service, the region, two imaging sites and the portal
come up, two patients choose their policy as themselves, the sample walks ITI-41 → ITI-18 →
ITI-43, the sites' studies are loaded and published by their gateways, the portal and privacy
centre addresses and the demo logins are printed, and a second start on the same folder works
too (the set-up command is idempotent: nothing is loaded, published or chosen twice)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from partage import demo
from partage.demo_sites import STUDIES, SITES
from partage.orthanc import dcmtk_available
from partage.serve import free_port

pytestmark = pytest.mark.skipif(not dcmtk_available(), reason="dcmtk is not installed")


def published_lines(err: str) -> dict[str, int]:
    return {name: int(n) for name, n in re.findall(r"^  (.+) \([\d.]+\): (\d+) studies published",
                                                   err, flags=re.M)}


def test_demo_runs_twice_on_the_same_folder(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    expected = {site.name: sum(s.site == site.key for s in STUDIES) for site in SITES}
    for run in range(2):
        ports = {key: free_port() for key in demo.PORTS}
        assert demo.main(tmp_path, once=True, ports=ports) == 0
        err = capsys.readouterr().err
        assert "SHA-1 matches the registry" in err
        assert published_lines(err) == expected
        loaded = re.findall(r"^  • (.+): (\d+) new of (\d+) studies in its PACS", err, flags=re.M)
        assert {name: int(new) for name, new, _ in loaded} == (
            expected if run == 0 else dict.fromkeys(expected, 0))
        assert f"http://127.0.0.1:{ports['a_gateway']}" in err
        assert f"portal      http://127.0.0.1:{ports['portal']}/" in err
        assert re.search(r"^  dr\.martin .* radiologist — CHU Nord$", err, flags=re.M)
        assert re.search(r"^  claire\.martin .* patient — INS 2801205123456$", err, flags=re.M)
    # each run's sample report, beside the studies published once (checked by the demo)
    assert "FindDocuments: 2 report(s)" in err
    assert "MARTIN Claire, 3 imaging studies from 2 site(s)" in err
    token = (tmp_path / "site-admin.token").read_text()
    assert token.count(".") == 2  # a compact JWS

