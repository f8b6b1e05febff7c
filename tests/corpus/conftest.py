"""Fixture trees with the corpora's real folder names and label-file formats, and tiny real WAVs."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from emofuse.audio import write_wav

SR_HZ = 16_000


def tone(path: Path, freq_hz: float = 220.0, dur_s: float = 0.1) -> None:
    t = np.arange(int(SR_HZ * dur_s), dtype=np.float32) / SR_HZ
    write_wav(path, (0.1 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32), SR_HZ)


# ------------------------------------------------------------------------------------------- IEMOCAP
# per session: (dialog suffix, dialog gender letter, [(turn, code, [V, A, D], transcript)])
SCRIPT01 = [
    ("F000", "ang", "I have been waiting for you all evening long."),
    ("M000", "sad", "The train was late again and I could not call."),
    ("F001", "oth", "[LAUGHTER] Well, you never call anyway."),
]
SCRIPT03 = [
    ("F000", "fru", "Let us walk along the beach tonight."),
    ("M000", "neu", "Yes the sea is calm and the sky is clear."),
]
IMPRO = [("F000", "neu"), ("M000", "hap"), ("F001", "exc"), ("M001", "xxx")]
IEMOCAP_SESSIONS = 5
IEMOCAP_PER_SESSION = len(SCRIPT01) + len(SCRIPT03) + len(IMPRO)


def iemocap_dialogs(n: int) -> dict[str, list[tuple[str, str, str]]]:
    """dialog name -> [(utterance id, code, transcript)] of session n."""
    s = f"Ses{n:02d}"
    return {
        f"{s}F_impro01": [
            (f"{s}F_impro01_{t}", code, f"Session {n} improvised turn {t} about topic number {10 * n + i}.")
            for i, (t, code) in enumerate(IMPRO)
        ],
        f"{s}F_script01_1": [(f"{s}F_script01_1_{t}", code, text) for t, code, text in SCRIPT01],
        f"{s}M_script03_2": [(f"{s}M_script03_2_{t}", code, text) for t, code, text in SCRIPT03],
    }


def vad_of(uid: str) -> tuple[float, float, float]:
    """A distinct [V, A, D] triple per utterance, so the field order is checked."""
    k = sum(map(ord, uid)) % 7
    return 1.0 + 0.5 * (k % 4), 2.0 + 0.25 * k, 3.0 + 0.125 * k


def build_iemocap(root: Path, sessions: int = IEMOCAP_SESSIONS) -> Path:
    for n in range(1, sessions + 1):
        sess = root / f"Session{n}"
        for dialog, turns in iemocap_dialogs(n).items():
            eval_lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
            trans_lines = []
            t0 = 6.2901
            for uid, code, text in turns:
                v, a, d = vad_of(uid)
                eval_lines += [
                    f"[{t0:.4f} - {t0 + 2.0:.4f}]\t{uid}\t{code}\t[{v:.4f}, {a:.4f}, {d:.4f}]",
                    "C-E2:\tNeutral;\t()",
                    "C-E3:\tNeutral;\t()",
                    "A-E3:\tval 3; act 2; dom  2;\t()",
                    "",
                ]
                if not (n == 3 and uid.endswith("impro01_M001")):  # one turn without a transcript line
                    trans_lines.append(f"{uid} [{t0:08.4f}-{t0 + 2.0:08.4f}]: {text}")
                t0 += 3.0
                tone(sess / "sentences" / "wav" / dialog / f"{uid}.wav", 200.0 + 10 * n)
            trans_lines.append("M: [BREATHING]")
            (sess / "dialog" / "EmoEvaluation").mkdir(parents=True, exist_ok=True)
            (sess / "dialog" / "transcriptions").mkdir(parents=True, exist_ok=True)
            (sess / "dialog" / "EmoEvaluation" / f"{dialog}.txt").write_text("\n".join(eval_lines) + "\n")
            (sess / "dialog" / "transcriptions" / f"{dialog}.txt").write_text("\n".join(trans_lines) + "\n")
    return root


@pytest.fixture(scope="session")
def iemocap_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only IEMOCAP tree shared by the tests (do not modify; use make_iemocap for that)."""
    return build_iemocap(tmp_path_factory.mktemp("iemocap") / "IEMOCAP_full_release")


@pytest.fixture
def make_iemocap(tmp_path: Path) -> Callable[..., Path]:
    return lambda sessions=2: build_iemocap(tmp_path / "IEMOCAP_full_release", sessions)


# ------------------------------------------------------------------------------------------- MSP-Podcast
MSP_ROWS = [
    # FileName, EmoClass, EmoAct, EmoVal, EmoDom, SpkrID, Gender, Split_Set
    ("MSP-PODCAST_0001_0008.wav", "A", "6.2", "2.4", "5.8", "127", "Male", "Train"),
    ("MSP-PODCAST_0001_0009.wav", "H", "5.0", "6.0", "4.4", "127", "Male", "Train"),
    ("MSP-PODCAST_0002_0001.wav", "N", "4.0", "4.2", "4.0", "Unknown", "Unknown", "Train"),
    ("MSP-PODCAST_0002_0002.wav", "S", "2.6", "2.0", "3.2", "Unknown", "Female", "Train"),
    ("MSP-PODCAST_0003_0001.wav", "N", "3.8", "4.0", "4.2", "230", "Female", "Train"),
    ("MSP-PODCAST_0003_0002.wav", "C", "4.4", "3.0", "5.0", "230", "Female", "Development"),
    ("MSP-PODCAST_0004_0001.wav", "X", "4.0", "4.0", "4.0", "450", "Female", "Test1"),
    ("MSP-PODCAST_0004_0002.wav", "H", "5.6", "5.8", "4.6", "450", "Female", "Test1"),
    ("MSP-PODCAST_0005_0001.wav", "O", "3.0", "3.6", "3.4", "451", "Male", "Test1"),
    ("MSP-PODCAST_0006_0001.wav", "U", "6.0", "4.4", "4.0", "452", "Male", "Test2"),
]
MSP_HEADER = ["FileName", "EmoClass", "EmoAct", "EmoVal", "EmoDom", "SpkrID", "Gender", "Split_Set"]


def build_msp(root: Path, rows: list[tuple[str, ...]] = MSP_ROWS, transcripts: bool = True) -> Path:
    (root / "Labels").mkdir(parents=True, exist_ok=True)
    with open(root / "Labels" / "labels_consensus.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(MSP_HEADER)
        writer.writerows(rows)
    for i, row in enumerate(rows):
        tone(root / "Audios" / row[0], 150.0 + 20 * i)
        if transcripts and i % 2 == 0:
            (root / "Transcripts").mkdir(exist_ok=True)
            (root / "Transcripts" / f"{Path(row[0]).stem}.txt").write_text(f"podcast segment number {i}\n")
    return root


@pytest.fixture
def msp_root(tmp_path: Path) -> Path:
    return build_msp(tmp_path / "MSP-PODCAST")


# ------------------------------------------------------------------------------------------- RAVDESS
RAVDESS_FILES = {
    1: ["03-01-01-01-01-01-01", "03-01-05-02-02-01-01", "03-01-03-01-01-02-01", "03-02-04-01-02-01-01"],
    2: ["03-01-02-01-01-01-02", "03-01-06-02-02-02-02", "03-01-08-01-01-01-02"],
    3: ["03-01-07-01-02-01-03", "03-01-04-02-01-01-03"],
    4: ["03-01-05-01-01-01-04", "03-01-03-02-02-01-04"],
}


@pytest.fixture
def ravdess_root(tmp_path: Path) -> Path:
    root = tmp_path / "RAVDESS"
    for actor, names in RAVDESS_FILES.items():
        for name in names:
            tone(root / f"Actor_{actor:02d}" / f"{name}.wav", 300.0 + actor)
    return root


# ------------------------------------------------------------------------------------------- CREMA-D
CREMA_FILES = [
    "1001_DFA_ANG_XX",
    "1001_IEO_HAP_HI",
    "1001_TIE_NEU_XX",
    "1002_DFA_SAD_XX",
    "1002_IOM_FEA_XX",
    "1002_WSI_DIS_LO",
    "1003_ITH_ANG_MD",
    "1003_TSI_NEU_XX",
]


@pytest.fixture
def crema_root(tmp_path: Path) -> Path:
    root = tmp_path / "CREMA-D"
    for i, name in enumerate(CREMA_FILES):
        tone(root / "AudioWAV" / f"{name}.wav", 180.0 + 15 * i)
    (root / "VideoDemographics.csv").write_text(
        "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n"
        "1002,21,Female,Caucasian,Not Hispanic\n1003,21,Male,Caucasian,Not Hispanic\n"
    )
    return root


@pytest.fixture(scope="session")
def iemocap_spec() -> dict:
    """What build_iemocap writes: sessions, the dialogs of a session, the [V, A, D] of an utterance."""
    return {
        "sessions": IEMOCAP_SESSIONS,
        "per_session": IEMOCAP_PER_SESSION,
        "dialogs": iemocap_dialogs,
        "vad": vad_of,
    }


@pytest.fixture(scope="session")
def msp_rows() -> list[tuple[str, ...]]:
    return list(MSP_ROWS)


@pytest.fixture(scope="session")
def ravdess_files() -> dict[int, list[str]]:
    return dict(RAVDESS_FILES)


@pytest.fixture(scope="session")
def crema_files() -> list[str]:
    return list(CREMA_FILES)


@pytest.fixture(scope="session")
def build_msp_tree() -> Callable[..., Path]:
    return build_msp
