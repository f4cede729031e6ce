"""The codes the clinical brief (../shared/docs/clinical-brief.md §4) lists as verified.

A ValueSet may hold a code under a standard system only if it is listed here. Codes the brief
marks UNVERIFIED (K91.89 pairing, 46700, 46735, 46742, 46744, 204731006 imperforate anus, any
SNOMED code for botulinum toxin, biofeedback, anal spasm, postoperative stricture or dilator
devices) are deliberately absent: such concepts live in our local CodeSystem.
"""

from __future__ import annotations

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMEDCT = "http://snomed.info/sct"
CPT = "http://www.ama-assn.org/go/cpt"
LOINC = "http://loinc.org"

VERIFIED: dict[str, frozenset[str]] = {
    ICD10CM: frozenset(
        [
            "K62.4",
            "K91.858",
            "Q42.0",
            "Q42.1",
            "Q42.2",
            "Q42.3",
            "Q43.5",
            "Q43.7",
            "Q43.1",
            "K60.0",
            "K60.1",
            "K60.2",
            "R15.0",
            "R15.1",
            "R15.2",
            "R15.9",
            "K62.81",
            "K59.4",
            "K62.5",
            "K61.0",
            "K61.1",
            "K61.2",
            "K61.31",
            "K61.39",
            "K61.4",
            "K61.5",
            "K59.02",
            # Added after the brief (docs/terminology.md names each source): Crohn's disease,
            # anal/rectal/anorectal fistula (FY2025 expansion included), obstetric anal
            # sphincter injury.
            "K50.00",
            "K50.011",
            "K50.012",
            "K50.013",
            "K50.014",
            "K50.018",
            "K50.019",
            "K50.1",
            "K50.112",
            "K50.114",
            "K50.8",
            "K50.90",
            "K60.3",
            "K60.30",
            "K60.311",
            "K60.312",
            "K60.313",
            "K60.319",
            "K60.321",
            "K60.4",
            "K60.5",
            "O70.2",
            "O70.20",
            "O70.21",
            "O70.22",
            "O70.23",
            "O70.3",
        ]
    ),
    SNOMEDCT: frozenset(
        [
            "69914001",
            "55960007",
            "64153009",
            "197216007",
            "25730006",
            "236104004",
            "236109009",
            "56226004",
            "33225004",
            "204712000",
            "204723001",
            "204739008",
            "30037006",
            "197151007",
            "197152000",
            "72042002",
            "12063002",
            "266464001",
            "6072007",
            "82127005",
            "91669008",
            "36046008",
            "197166005",
            "68653001",
            "197232005",
            "77880009",
            "235796008",
            "711263002",
            "85920003",
            "174368001",
            "174365003",
            "235338009",
            "429401008",
            "307244005",
            "307245006",
            "59896001",
            "235374000",
            "235370009",
            "174385004",
            "235375004",
            "119902006",
            "174305001",
            "70243005",
            "314592008",
            "4558008",
            "174241004",
            "43868005",
            "303401008",
            "787108001",
            "70172002",
            "307183003",
            "24496007",
            "91251008",
            # Added after the brief (docs/terminology.md): Crohn's disease; the FHIR
            # condition-severity qualifiers used in Condition.severity.
            "34000006",
            "255604002",
            "6736007",
            "24484000",
        ]
    ),
    CPT: frozenset(
        [
            "45905",
            "45910",
            "46604",
            "46940",
            "46942",
            "46080",
            "46505",
            "46705",
            "46715",
            "46716",
            "46730",
            "46740",
            "46255",
            "46260",
            "91122",
            "90912",
            "90913",
        ]
    ),
    # 38213-5 FLACC pain assessment panel and 38221-8 Wong-Baker FACES: added after the brief
    # (docs/terminology.md).
    LOINC: frozenset({"72514-3", "38208-5", "38213-5", "38221-8"}),
}

#: Named UNVERIFIED or "do not use" in the brief: must never appear under a standard system.
NEVER: dict[str, frozenset[str]] = {
    ICD10CM: frozenset({"K91.89"}),
    SNOMEDCT: frozenset({"204731006"}),
    CPT: frozenset({"46700", "46735", "46742", "46744"}),
}
