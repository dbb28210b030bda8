"""De-identification of DICOM instances after DICOM PS3.15 Annex E.

:class:`Deidentifier` applies the Basic Application Level Confidentiality
Profile (Table E.1-1) with the Retain Longitudinal Temporal Information with
Modified Dates option:

* Patient Name and Patient ID become a pseudonym (action D);
* the profile's attributes that name or describe the patient, the people who
  cared for them, places, devices, requests and free text are removed (X), or
  emptied where common IODs make them Type 2 (Z); any other person name (VR PN)
  is emptied as well;
* every date (DA, and the date part of DT) moves back by a secret number of
  days, so intervals between dates stay; times stay;
* every UID that is not a registered DICOM UID (SOP classes, transfer
  syntaxes, coding schemes) is replaced by a ``2.25`` UID computed with a keyed
  hash: under one key the same original UID always gets the same new UID, so
  references between instances de-identified together stay consistent (a SEG
  still points at the slices of the de-identified CT), and without the key no
  new UID can be traced back to the original;
* private attributes, attributes unknown to the data dictionary, overlays and
  curves (groups 60xx and 50xx) are removed;
* Patient Identity Removed (YES), Longitudinal Temporal Information Modified
  (MODIFIED), De-identification Method and its Code Sequence are set.

Pixel data is not examined: a source that declares burned-in annotation
(:func:`declares_burned_in_annotation`) must be refused by the caller.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.tag import BaseTag

#: Largest date shift (days); a shift lies in [1, this].
MAX_DATE_SHIFT_DAYS = 3650
#: What the Code Sequence says was applied (PS3.16 CID 7050).
METHOD_CODES = (
    codes.DCM.BasicApplicationConfidentialityProfile,
    codes.DCM.RetainLongitudinalTemporalInformationModifiedDatesOption,
)
METHOD_TEXT = "PS3.15 basic profile, modified dates; cryoplan"
#: Table E.1-1 attributes removed (action X and X/Z/D alternatives where removal is allowed).
REMOVED_KEYWORDS = frozenset(
    {
        # Patient
        "IssuerOfPatientID", "IssuerOfPatientIDQualifiersSequence", "PatientBirthTime",
        "PatientAge", "PatientSize", "PatientWeight", "PatientAddress",
        "PatientTelephoneNumbers", "PatientTelecomInformation", "PatientMotherBirthName",
        "PatientBirthName", "OtherPatientIDs", "OtherPatientIDsSequence", "OtherPatientNames",
        "MilitaryRank", "BranchOfService", "MedicalRecordLocator", "EthnicGroup",
        "Occupation", "AdditionalPatientHistory", "PatientComments",
        "PatientReligiousPreference", "PatientInsurancePlanCodeSequence",
        "PatientPrimaryLanguageCodeSequence", "MedicalAlerts", "Allergies",
        "CountryOfResidence", "RegionOfResidence", "SmokingStatus", "PregnancyStatus",
        "LastMenstrualDate", "PatientState", "SpecialNeeds", "ResponsiblePerson",
        "ResponsiblePersonRole", "ResponsibleOrganization", "PatientSexNeutered",
        "PatientTransportArrangements", "PatientInstitutionResidence",
        "InsurancePlanIdentification", "PersonName", "PersonAddress",
        "PersonTelephoneNumbers", "ReferencedPatientSequence", "ReferencedPatientAliasSequence",
        "PatientBirthDateInAlternativeCalendar", "PatientDeathDateInAlternativeCalendar",
        "PatientAlternativeCalendar", "ConfidentialityConstraintOnPatientDataDescription",
        # Study, visit, request and procedure step
        "StudyDescription", "ReferringPhysicianAddress", "ReferringPhysicianTelephoneNumbers",
        "ReferringPhysicianIdentificationSequence", "ConsultingPhysicianName",
        "ConsultingPhysicianIdentificationSequence", "PhysiciansOfRecord",
        "PhysiciansOfRecordIdentificationSequence", "NameOfPhysiciansReadingStudy",
        "PhysiciansReadingStudyIdentificationSequence", "RequestingPhysician",
        "RequestingPhysicianIdentificationSequence", "RequestingService",
        "RequestedProcedureDescription", "RequestedProcedureID", "RequestedProcedureComments",
        "RequestAttributesSequence", "ReasonForStudy", "ReasonForTheRequestedProcedure",
        "ImagingServiceRequestComments", "StudyComments", "AdmittingDiagnosesDescription",
        "AdmittingDiagnosesCodeSequence", "AdmissionID", "IssuerOfAdmissionID",
        "IssuerOfAdmissionIDSequence", "ServiceEpisodeID", "ServiceEpisodeDescription",
        "IssuerOfServiceEpisodeID", "CurrentPatientLocation", "VisitComments",
        "ReferencedStudySequence", "ReferencedPerformedProcedureStepSequence",
        "ProcedureCodeSequence", "OrderEnteredBy", "OrderEntererLocation",
        "OrderCallbackPhoneNumber", "PlacerOrderNumberImagingServiceRequest",
        "FillerOrderNumberImagingServiceRequest", "ScheduledProcedureStepDescription",
        "ScheduledProcedureStepID", "ScheduledProcedureStepLocation",
        "ScheduledPerformingPhysicianName", "ScheduledStationName", "ScheduledStationAETitle",
        "PerformedProcedureStepID", "PerformedProcedureStepDescription",
        "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime",
        "PerformedProcedureStepEndDate", "PerformedProcedureStepEndTime",
        "PerformedStationAETitle", "PerformedStationName", "PerformedLocation",
        "InterpretationRecorder", "InterpretationTranscriber", "InterpretationAuthor",
        "InterpretationApproverSequence", "DistributionName", "DistributionAddress",
        # Series, equipment, operators, free text
        "SeriesDescription", "ProtocolName", "ImageComments", "FrameComments",
        "AcquisitionComments", "DerivationDescription", "TextComments", "TextString",
        "ContentSequence", "AcquisitionContextSequence", "InstitutionName",
        "InstitutionAddress", "InstitutionalDepartmentName", "InstitutionCodeSequence",
        "InstitutionalDepartmentTypeCodeSequence", "StationName", "DeviceSerialNumber",
        "SoftwareVersions", "DetectorID", "GantryID", "PlateID", "CassetteID",
        "GeneratorID", "PerformingPhysicianName", "PerformingPhysicianIdentificationSequence",
        "OperatorsName", "OperatorIdentificationSequence", "ReviewerName",
        "ContentCreatorIdentificationCodeSequence", "TimezoneOffsetFromUTC",
        # Hidden copies of the original attributes and signatures over them
        "IconImageSequence", "OriginalAttributesSequence", "ModifiedAttributesSequence",
        "EncryptedAttributesSequence", "DigitalSignaturesSequence", "MACParametersSequence",
        "DataSetTrailingPadding",
    }
)  # fmt: skip
#: Table E.1-1 attributes emptied (action Z: Type 2 in common IODs).
EMPTIED_KEYWORDS = frozenset(
    {
        "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID",
        "ReferringPhysicianName", "ContentCreatorName",
    }
)  # fmt: skip
#: UI attributes that name standards, not instances; kept even when unregistered.
_STANDARD_UID_KEYWORDS = frozenset(
    {"TransferSyntaxUID", "CodingSchemeUID", "ContextUID", "MappingResourceUID",
     "ContextGroupExtensionCreatorUID", "PrivateInformationCreatorUID"}
)  # fmt: skip
_DICOM_UID_ROOT = "1.2.840.10008."
#: File meta attributes that name the sending station.
_META_STATION_KEYWORDS = (
    "SourceApplicationEntityTitle",
    "SendingApplicationEntityTitle",
    "ReceivingApplicationEntityTitle",
)


def declares_burned_in_annotation(dataset: Dataset) -> bool:
    """True when the instance says its pixels show text (which may identify the patient)."""
    return str(dataset.get("BurnedInAnnotation", "") or "").strip().upper() == "YES"


@dataclass(frozen=True, repr=False)
class Deidentifier:
    """One de-identification: UID key, date shift and pseudonym shared by its instances.

    Parameters
    ----------
    uid_key : bytes
        Secret key of the UID mapping.
    date_shift_days : int
        Days by which every date moves back (1 or more).
    pseudonym : str
        New Patient Name and Patient ID.
    """

    uid_key: bytes
    date_shift_days: int
    pseudonym: str

    def __post_init__(self) -> None:
        if len(self.uid_key) < 16:
            raise ValueError("uid_key must hold at least 16 bytes.")
        if not 1 <= self.date_shift_days <= MAX_DATE_SHIFT_DAYS:
            raise ValueError(
                f"date_shift_days must lie in 1..{MAX_DATE_SHIFT_DAYS}, got {self.date_shift_days}."
            )

    @classmethod
    def random(cls, *, pseudonym_prefix: str = "ANON") -> Deidentifier:
        """A one-off de-identification: random key, shift and pseudonym, kept nowhere."""
        return cls(
            secrets.token_bytes(32),
            1 + secrets.randbelow(MAX_DATE_SHIFT_DAYS),
            f"{pseudonym_prefix}-{secrets.token_hex(4).upper()}",
        )

    @classmethod
    def from_secret(cls, secret: bytes, scope: str, *, pseudonym: str) -> Deidentifier:
        """A repeatable de-identification of ``scope`` (a case id) under a stored ``secret``.

        Key and shift are keyed hashes of ``scope``: the same secret and scope give
        the same UIDs and dates again, and without the secret neither can be derived
        from the scope.
        """
        if len(secret) < 16:
            raise ValueError("secret must hold at least 16 bytes.")
        uid_key = hmac.new(secret, b"uid\x00" + scope.encode(), hashlib.sha256).digest()
        shift = hmac.new(secret, b"date-shift\x00" + scope.encode(), hashlib.sha256).digest()
        return cls(uid_key, 1 + int.from_bytes(shift[:8], "big") % MAX_DATE_SHIFT_DAYS, pseudonym)

    def new_uid(self, uid: str) -> str:
        """The de-identified UID of ``uid`` (same input, same output under this key)."""
        digest = hmac.new(self.uid_key, uid.strip().encode(), hashlib.sha256).digest()
        return "2.25." + str(int.from_bytes(digest[:16], "big"))

    def shift_date(self, text: str) -> str:
        """A DA value, or a DT value's date part, moved back; empty when it does not parse."""
        try:
            value = datetime.datetime.strptime(text[:8], "%Y%m%d").date()
            shifted = value - datetime.timedelta(days=self.date_shift_days)
        except (ValueError, OverflowError):
            return ""  # a date that cannot be shifted cannot be kept safely either
        return shifted.strftime("%Y%m%d") + text[8:]

    def apply(self, dataset: Dataset, *, keep: Collection[str] = ()) -> None:
        """De-identify ``dataset`` in place, nested sequences included.

        Parameters
        ----------
        dataset : pydicom Dataset
            One instance, with or without file meta information.
        keep : collection of str
            Top-level keywords whose values the caller wrote itself and knows to
            be free of identifiers (a derived object's own Series Description).
        """
        self._clean(dataset, frozenset(keep))
        dataset.PatientName = self.pseudonym
        dataset.PatientID = self.pseudonym
        dataset.PatientIdentityRemoved = "YES"
        dataset.LongitudinalTemporalInformationModified = "MODIFIED"
        dataset.DeidentificationMethod = METHOD_TEXT
        dataset.DeidentificationMethodCodeSequence = [_code_item(code) for code in METHOD_CODES]
        meta = getattr(dataset, "file_meta", None)
        if meta is not None:
            for keyword in _META_STATION_KEYWORDS:
                if keyword in meta:
                    delattr(meta, keyword)
            if "SOPInstanceUID" in dataset:
                meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID

    def _clean(self, dataset: Dataset, keep: frozenset[str]) -> None:
        for tag in list(dataset.keys()):
            try:
                element = dataset[tag]
            except Exception:  # pydicom raises assorted errors on malformed values
                del dataset[tag]  # what cannot be read cannot be checked, so it goes
                continue
            keyword = element.keyword
            if keyword in keep:
                continue
            if _removed(tag, keyword):
                del dataset[tag]
            elif keyword in ("PatientName", "PatientID"):
                element.value = self.pseudonym
            elif keyword in EMPTIED_KEYWORDS or element.VR == "PN":
                element.value = [] if element.VR == "SQ" else ""
            elif element.VR == "SQ":
                for item in element.value:
                    self._clean(item, frozenset())
            elif element.VR == "UI" and not _names_a_standard(keyword):
                element.value = self._mapped(element, self._instance_uid)
            elif element.VR in ("DA", "DT"):
                element.value = self._mapped(element, self.shift_date)

    def _instance_uid(self, uid: str) -> str:
        # UIDs under the DICOM root name SOP classes, syntaxes and the like, not patients.
        return uid if uid.startswith(_DICOM_UID_ROOT) else self.new_uid(uid)

    @staticmethod
    def _mapped(element: DataElement, change: Callable[[str], str]) -> object:
        values = element.value
        if values is None or values == "":
            return values
        if element.VM > 1:
            return [change(str(v)) for v in values]
        return change(str(values))


def _removed(tag: BaseTag, keyword: str) -> bool:
    group = tag.group
    overlay_or_curve = (0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF) and group % 2 == 0
    return (
        tag.is_private
        or overlay_or_curve
        or (not keyword and tag.element != 0)  # unknown to the dictionary: cannot be judged
        or keyword in REMOVED_KEYWORDS
    )


def _names_a_standard(keyword: str) -> bool:
    return keyword.endswith("ClassUID") or keyword in _STANDARD_UID_KEYWORDS


def _code_item(code: object) -> Dataset:
    item = Dataset()
    item.CodeValue = code.value  # type: ignore[attr-defined]
    item.CodingSchemeDesignator = code.scheme_designator  # type: ignore[attr-defined]
    item.CodeMeaning = code.meaning  # type: ignore[attr-defined]
    return item
