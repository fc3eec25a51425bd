"""The synthetic department's own codes for the canonical values (departments/synthetic.yaml maps
them back). The scenario checks its call types and groups against them; the export writes them."""

# canonical code -> the department's code
SEX_CODES = {"male": "M", "female": "F", "unknown": "U"}
RACE_CODES = {"white": "W", "black": "B", "hispanic": "H", "asian": "A", "other": "O"}
RANK_CODES = {"officer": "PO", "master_officer": "MPO", "sergeant": "SGT"}
ARM_CODES = {"treatment": "Immediate", "control": "Waitlist"}
CURRICULUM_CODES = {"de-escalation": "DEESC"}
CALL_TYPE_CODES = {
    "traffic_stop": "TS",
    "suspicious_person": "SUSP",
    "disturbance": "DIST",
    "domestic": "DOM",
    "theft": "THEFT",
    "alarm": "ALARM",
    "welfare_check": "WELF",
    "mental_health": "MH",
    "assault": "ASLT",
    "noise": "NOISE",
    "traffic_crash": "ACC",
}
DISPOSITION_CODES = {
    "report": "RPT",
    "advised": "ADV",
    "gone_on_arrival": "GOA",
    "unfounded": "UNF",
    "arrest": "ARR",
    "citation": "CIT",
}
ROLE_CODES = {"primary": "P", "backup": "B"}
STRATUM_GROUP_CODES = {"crime": "CRM", "disorder": "DIS", "service": "SVC", "traffic": "TRF"}
STRATUM_PERIOD_CODES = {"pre": "PRE", "post": "POST"}
CODEBOOK_VERSION_CODES = {"v1": "SSO-2024a"}
FORCE_TYPE_CODES = {
    "hands_on": "HANDS",
    "takedown": "TKDN",
    "strike": "STRK",
    "chemical_agent": "OC",
    "conducted_energy_device": "CEW",
    "canine": "K9",
    "impact_weapon": "BATON",
    "firearm": "FIREARM",
}
FORCE_LEVEL_CODES = {1: "L1", 2: "L2", 3: "L3"}
RESISTANCE_CODES = {
    "none": "NONE",
    "passive": "PASSIVE",
    "active": "ACTIVE",
    "aggressive": "AGGR",
    "deadly": "DEADLY",
}
ALLEGATION_CODES = {
    "discourtesy": "DISC",
    "improper_procedure": "IMP",
    "excessive_force": "EXF",
    "conduct_unbecoming": "CUB",
    "bias": "BIAS",
}
FINDING_CODES = {
    "sustained": "SUS",
    "not_sustained": "NS",
    "unfounded": "UNF",
    "exonerated": "EXON",
    "other": "WD",
    "pending": "PEND",
}
