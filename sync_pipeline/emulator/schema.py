"""The emulated org's objects and fields, and the describe payloads built from them.

Field metadata follows recorded v59.0 describes (lengths, createable/updateable, nillable, defaulted, picklists).
Each field is one line: ``Name type size flags key=value...`` where flags are C createable, U updateable,
N nillable, D defaulted on create, X external id (and id lookup), Q unique, F calculated (formula).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

TEXT_TYPES = {"string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "combobox"}
SOAP_TYPES = {
    "id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "int": "xsd:int", "double": "xsd:double",
    "currency": "xsd:double", "percent": "xsd:double", "date": "xsd:date", "datetime": "xsd:dateTime",
}
INDUSTRIES = (
    "Agriculture|Apparel|Banking|Biotechnology|Chemicals|Communications|Construction|Consulting|Education|"
    "Electronics|Energy|Engineering|Entertainment|Environmental|Finance|Food & Beverage|Government|Healthcare|"
    "Hospitality|Insurance|Machinery|Manufacturing|Media|Not For Profit|Recreation|Retail|Shipping|Technology|"
    "Telecommunications|Transportation|Utilities|Other"
)
SOURCES = "Web|Phone Inquiry|Partner Referral|Purchased List|Other"
OPEN_STAGES = {
    "Prospecting": 10, "Qualification": 10, "Needs Analysis": 20, "Value Proposition": 50,
    "Id. Decision Makers": 60, "Perception Analysis": 70, "Proposal/Price Quote": 75, "Negotiation/Review": 90,
}
STAGES = "|".join([*OPEN_STAGES, "Closed Won", "Closed Lost"])
LEAD_STATUSES = "Open - Not Contacted|Working - Contacted|Closed - Converted|Closed - Not Converted"
ACCOUNT_TYPES = ("Prospect|Customer - Direct|Customer - Channel|Channel Partner / Reseller|Installation Partner|"
                 "Technology Partner|Other")
OPPORTUNITY_TYPES = ("Existing Customer - Upgrade|Existing Customer - Replacement|Existing Customer - Downgrade|"
                     "New Customer")
CONTACT_ROLES = ("Business User|Decision Maker|Economic Buyer|Economic Decision Maker|Evaluator|Executive Sponsor|"
                 "Influencer|Technical Buyer|Other")
CAMPAIGN_TYPES = ("Conference|Webinar|Trade Show|Public Relations|Partners|Referral Program|Advertisement|"
                  "Banner Ads|Direct Mail|Email|Telemarketing|Other")

SYSTEM_FIELDS = """
Id id 18 D label="Record ID"
IsDeleted boolean - D label=Deleted
CreatedDate datetime - D
CreatedById reference 18 D ref=User rel=CreatedBy
LastModifiedDate datetime - D
LastModifiedById reference 18 D ref=User rel=LastModifiedBy
SystemModstamp datetime - D label="System Modstamp"
"""

OBJECT_SPECS: dict[str, tuple[str, str, str]] = {
    # name: (key prefix, plural label, fields)
    "Lead": ("00Q", "Leads", f"""
LastName string 80 CU
FirstName string 40 CUN
Salutation picklist 40 CUN pick="Mr.|Ms.|Mrs.|Dr.|Prof.|Mx."
Name string 121 - label="Full Name"
Title string 128 CUN
Company string 255 CU
Street textarea 255 CUN
City string 40 CUN
State string 80 CUN label="State/Province"
PostalCode string 20 CUN label="Zip/Postal Code"
Country string 80 CUN
Phone phone 40 CUN
MobilePhone phone 40 CUN
Email email 80 CUN
Website url 255 CUN
Description textarea 32000 CUN
LeadSource picklist 255 CUN pick="{SOURCES}"
Status picklist 255 CUD pick="{LEAD_STATUSES}" default="Open - Not Contacted"
Industry picklist 255 CUN pick="{INDUSTRIES}"
Rating picklist 255 CUN pick="Hot|Warm|Cold"
AnnualRevenue currency 18,0 CUN
NumberOfEmployees int 8 CUN label="Employees"
OwnerId reference 18 CUD ref=User rel=Owner label="Owner ID"
HasOptedOutOfEmail boolean - CUD label="Email Opt Out"
HasOptedOutOfFax boolean - CUD label="Fax Opt Out"
DoNotCall boolean - CUD label="Do Not Call"
IsConverted boolean - CD label=Converted
ConvertedDate date - N
ConvertedAccountId reference 18 N ref=Account rel=ConvertedAccount
ConvertedContactId reference 18 N ref=Contact rel=ConvertedContact
ConvertedOpportunityId reference 18 N ref=Opportunity rel=ConvertedOpportunity
IsUnreadByOwner boolean - CUD label="Unread By Owner"
LastActivityDate date - N
EmailBouncedReason string 255 UN
EmailBouncedDate datetime - UN
Behavior_Score__c double 6,0 CUN label="Behavior Score"
Owner_ID__c string 1300 NF label="Owner ID (formula)" formula="OwnerId"
Marketing_Id__c string 80 CUNXQ label="Marketing Id"
"""),
    "Contact": ("003", "Contacts", f"""
AccountId reference 18 CUN ref=Account rel=Account
LastName string 80 CU
FirstName string 40 CUN
Salutation picklist 40 CUN pick="Mr.|Ms.|Mrs.|Dr.|Prof."
Name string 121 - label="Full Name"
MailingStreet textarea 255 CUN
MailingCity string 40 CUN
MailingState string 80 CUN
MailingPostalCode string 20 CUN
MailingCountry string 80 CUN
Phone phone 40 CUN label="Business Phone"
MobilePhone phone 40 CUN
ReportsToId reference 18 CUN ref=Contact rel=ReportsTo
Email email 80 CUN
Title string 128 CUN
Department string 80 CUN
LeadSource picklist 255 CUN pick="{SOURCES}"
Birthdate date - CUN
Description textarea 32000 CUN
OwnerId reference 18 CUD ref=User rel=Owner label="Owner ID"
HasOptedOutOfEmail boolean - CUD label="Email Opt Out"
HasOptedOutOfFax boolean - CUD label="Fax Opt Out"
DoNotCall boolean - CUD label="Do Not Call"
LastActivityDate date - N
EmailBouncedReason string 255 CUN
EmailBouncedDate datetime - CUN
IsEmailBounced boolean - D label="Is Email Bounced"
Behavior_Score__c double 6,0 CUN label="Behavior Score"
Owner_ID__c string 1300 NF label="Owner ID (formula)" formula="OwnerId"
Marketing_Id__c string 80 CUNXQ label="Marketing Id"
"""),
    "Account": ("001", "Accounts", f"""
Name string 255 CU label="Account Name"
Type picklist 40 CUN pick="{ACCOUNT_TYPES}" label="Account Type"
ParentId reference 18 CUN ref=Account rel=Parent
BillingStreet textarea 255 CUN
BillingCity string 40 CUN
BillingState string 80 CUN
BillingPostalCode string 20 CUN
BillingCountry string 80 CUN
Phone phone 40 CUN
Website url 255 CUN
Industry picklist 40 CUN pick="{INDUSTRIES}"
AnnualRevenue currency 18,0 CUN
NumberOfEmployees int 8 CUN label="Employees"
Ownership picklist 40 CUN pick="Public|Private|Subsidiary|Other"
Description textarea 32000 CUN
Rating picklist 40 CUN pick="Hot|Warm|Cold"
OwnerId reference 18 CUD ref=User rel=Owner label="Owner ID"
LastActivityDate date - N
AccountSource picklist 40 CUN pick="{SOURCES}"
"""),
    "Opportunity": ("006", "Opportunities", f"""
AccountId reference 18 CUN ref=Account rel=Account
IsPrivate boolean - CUD label=Private
Name string 120 CU
Description textarea 32000 CUN
StageName picklist 255 CU pick="{STAGES}" label=Stage
Amount currency 18,2 CUN
Probability percent 3,0 CUND label="Probability (%)"
ExpectedRevenue currency 18,2 N label="Expected Amount"
CloseDate date - CU
Type picklist 255 CUN pick="{OPPORTUNITY_TYPES}" label="Opportunity Type"
NextStep string 255 CUN
LeadSource picklist 255 CUN pick="{SOURCES}"
IsClosed boolean - D label=Closed
IsWon boolean - D label=Won
ForecastCategory picklist 40 - pick="Omitted|Pipeline|BestCase|MostLikely|Forecast|Closed"
CampaignId reference 18 CUN ref=Campaign rel=Campaign label="Primary Campaign Source"
OwnerId reference 18 CUD ref=User rel=Owner label="Owner ID"
LastActivityDate date - N
"""),
    "OpportunityContactRole": ("00K", "Contact Roles", f"""
OpportunityId reference 18 C ref=Opportunity rel=Opportunity
ContactId reference 18 CU ref=Contact rel=Contact
Role picklist 40 CUN pick="{CONTACT_ROLES}"
IsPrimary boolean - CUD label=Primary
"""),
    "Campaign": ("701", "Campaigns", f"""
Name string 80 CU
Type picklist 255 CUN pick="{CAMPAIGN_TYPES}"
Status picklist 255 CUN pick="Planned|In Progress|Completed|Aborted"
StartDate date - CUN
EndDate date - CUN
IsActive boolean - CUD label=Active
ParentId reference 18 CUN ref=Campaign rel=Parent
BudgetedCost currency 18,0 CUN
ActualCost currency 18,0 CUN
ExpectedRevenue currency 18,0 CUN
NumberOfLeads int 9 D label="Leads in Campaign"
NumberOfContacts int 9 D label="Contacts in Campaign"
NumberOfResponses int 9 D label="Responses in Campaign"
Description textarea 32000 CUN
OwnerId reference 18 CUD ref=User rel=Owner label="Owner ID"
"""),
    "CampaignMember": ("00v", "Campaign Members", """
CampaignId reference 18 C ref=Campaign rel=Campaign
LeadId reference 18 CN ref=Lead rel=Lead
ContactId reference 18 CN ref=Contact rel=Contact
Status picklist 40 CUND pick="Sent|Responded" default=Sent
HasResponded boolean - D label=Responded
FirstRespondedDate date - N
Type string 40 N
LeadOrContactId reference 18 N ref=Lead,Contact
FirstName string 40 N
LastName string 80 N
Email email 80 N
CompanyOrAccount string 255 N label="Company (Account)"
HasOptedOutOfEmail boolean - D label="Email Opt Out"
"""),
    "User": ("005", "Users", """
Username string 80 CU
LastName string 80 CU
FirstName string 40 CUN
Name string 121 - label="Full Name"
Alias string 8 CU
Email email 128 CU
Title string 80 CUN
Department string 80 CUN
CompanyName string 80 CUN
IsActive boolean - CUD label=Active
UserType picklist 40 ND pick="Standard|PowerPartner|CspLitePortal|CustomerSuccess|PowerCustomerSuccess|CsnOnly|Guest"
ManagerId reference 18 CUN ref=User rel=Manager
TimeZoneSidKey picklist 40 CU pick="America/Los_Angeles|America/New_York|Europe/London|Europe/Paris|Asia/Tokyo|GMT"
LocaleSidKey picklist 40 CU pick="en_US|en_GB|fr_FR|de_DE|ja_JP"
LanguageLocaleKey picklist 40 CU pick="en_US|fr|de|ja"
EmailEncodingKey picklist 40 CU pick="UTF-8|ISO-8859-1"
"""),
    "Task": ("00T", "Tasks", """
WhoId reference 18 CUN ref=Contact,Lead rel=Who label="Name ID"
WhatId reference 18 CUN ref=Account,Opportunity,Campaign rel=What label="Related To ID"
Subject combobox 255 CUN pick="Call|Send Letter|Send Quote|Other|Email"
ActivityDate date - CUN label="Due Date Only"
Status picklist 40 CUD pick="Not Started|In Progress|Completed|Waiting on someone else|Deferred" default="Not Started"
Priority picklist 40 CUD pick="High|Normal|Low" default=Normal
Type picklist 40 CUN pick="Call|Email|Meeting|Other"
TaskSubtype picklist 40 CN pick="Task|Email|ListEmail|Cadence|Call|LinkedIn"
Description textarea 32000 CUN label=Comments
OwnerId reference 18 CUD ref=User rel=Owner label="Assigned To ID"
IsClosed boolean - D label=Closed
Marketing_Activity_Key__c string 80 CUNXQ label="Marketing Activity Key"
"""),
    "Report": ("00O", "Reports", """
Name string 40 -
DeveloperName string 80 -
FolderName string 40 N
Format picklist 40 - pick="Tabular|Summary|Matrix|MultiBlock"
Description string 255 N
LastRunDate datetime - N
"""),
    "Organization": ("00D", "Organizations", """
Name string 80 -
OrganizationType picklist 40 - pick="Developer Edition|Enterprise Edition|Unlimited Edition|Professional Edition"
InstanceName string 5 N
IsSandbox boolean - D label="Is Sandbox"
IsReadOnly boolean - D label="Is Read Only"
DefaultLocaleSidKey picklist 40 - pick="en_US"
TimeZoneSidKey picklist 40 - pick="America/Los_Angeles|GMT"
LanguageLocaleKey picklist 40 - pick="en_US"
TrialExpirationDate datetime - N
NamespacePrefix string 15 N
"""),
}

# Flags of the global describe that differ from the usual "everything allowed".
OBJECT_FLAGS: dict[str, dict[str, bool]] = {
    "User": {"deletable": False, "undeletable": False},
    "CampaignMember": {"searchable": False, "undeletable": False},
    "Organization": {"createable": False, "updateable": False, "deletable": False, "undeletable": False},
    "Report": {"createable": False, "updateable": False, "deletable": False, "undeletable": False},
}
CHILD_RELATIONSHIPS: dict[str, list[tuple[str, str, str]]] = {
    # parent: [(child object, child field, relationship name)]
    "Lead": [("CampaignMember", "LeadId", "CampaignMembers"), ("Task", "WhoId", "Tasks")],
    "Contact": [("CampaignMember", "ContactId", "CampaignMembers"),
                ("OpportunityContactRole", "ContactId", "OpportunityContactRoles"), ("Task", "WhoId", "Tasks")],
    "Account": [("Contact", "AccountId", "Contacts"), ("Opportunity", "AccountId", "Opportunities")],
    "Opportunity": [("OpportunityContactRole", "OpportunityId", "OpportunityContactRoles")],
    "Campaign": [("CampaignMember", "CampaignId", "CampaignMembers")],
}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    length: int = 0
    precision: int = 0
    scale: int = 0
    digits: int = 0
    createable: bool = False
    updateable: bool = False
    nillable: bool = False
    defaulted: bool = False
    external_id: bool = False
    unique: bool = False
    calculated: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    picklist: tuple[str, ...] = ()
    default: str | None = None
    label: str = ""
    formula: str | None = None

    @property
    def is_text(self) -> bool:
        return self.type in TEXT_TYPES or self.type in ("id", "reference")

    @property
    def required_on_create(self) -> bool:
        return self.createable and not self.nillable and not self.defaulted

    def describe(self) -> dict[str, Any]:
        text = self.type in TEXT_TYPES
        byte_length = self.length * 3 if text else (18 if self.type in ("id", "reference") else 0)
        return {
            "aggregatable": self.type not in ("textarea",), "aiPredictionField": False,
            "autoNumber": False, "byteLength": byte_length, "calculated": self.calculated,
            "calculatedFormula": self.formula, "cascadeDelete": False, "caseSensitive": False,
            "compoundFieldName": None, "controllerName": None, "createable": self.createable,
            "custom": self.name.endswith("__c"), "defaultValue": self.default if self.type != "boolean" else (
                False if self.defaulted else None),
            "defaultValueFormula": None, "defaultedOnCreate": self.defaulted, "dependentPicklist": False,
            "deprecatedAndHidden": False, "digits": self.digits, "displayLocationInDecimal": False,
            "encrypted": False, "externalId": self.external_id, "extraTypeInfo": None,
            "filterable": self.type != "textarea", "filteredLookupInfo": None,
            "formulaTreatNullNumberAsZero": False, "groupable": self.type not in ("textarea", "double", "currency"),
            "highScaleNumber": False, "htmlFormatted": False,
            "idLookup": self.type == "id" or self.external_id or self.name in ("Email", "Username"),
            "inlineHelpText": None, "label": self.label,
            "length": self.length if text else (18 if self.type in ("id", "reference") else 0),
            "mask": None, "maskType": None, "name": self.name, "nameField": self.name == "Name",
            "namePointing": len(self.reference_to) > 1, "nillable": self.nillable, "permissionable": self.nillable,
            "picklistValues": [
                {"active": True, "defaultValue": value == self.default, "label": value, "validFor": None,
                 "value": value} for value in self.picklist
            ],
            "polymorphicForeignKey": len(self.reference_to) > 1, "precision": self.precision,
            "queryByDistance": False, "referenceTargetField": None, "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name, "relationshipOrder": None, "restrictedDelete": False,
            "restrictedPicklist": False, "scale": self.scale, "searchPrefilterable": False,
            "soapType": SOAP_TYPES.get(self.type, "xsd:string"), "sortable": self.type != "textarea",
            "type": self.type, "unique": self.unique, "updateable": self.updateable,
            "writeRequiresMasterRead": False,
        }


def _label_from_name(name: str) -> str:
    base = name[:-3].replace("_", " ") if name.endswith("__c") else name
    base = re.sub(r"Id$", " ID", base) if base.endswith("Id") and base != "Id" else base
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", base).strip()


def _parse_field(line: str) -> FieldSpec:
    parts = shlex.split(line)
    name, ftype, size, flags = parts[0], parts[1], parts[2], parts[3]
    extras = dict(part.split("=", 1) for part in parts[4:])
    numbers: dict[str, int] = {}
    if size != "-":
        if ftype in ("double", "currency", "percent"):
            precision, scale = size.split(",")
            numbers = {"precision": int(precision), "scale": int(scale)}
        elif ftype == "int":
            numbers = {"digits": int(size)}
        else:
            numbers = {"length": int(size)}
    refs = tuple(extras["ref"].split(",")) if "ref" in extras else ()
    return FieldSpec(
        name=name, type=ftype, **numbers,
        createable="C" in flags, updateable="U" in flags, nillable="N" in flags, defaulted="D" in flags,
        external_id="X" in flags, unique="Q" in flags, calculated="F" in flags,
        reference_to=refs, relationship_name=extras.get("rel"),
        picklist=tuple(extras["pick"].split("|")) if "pick" in extras else (),
        default=extras.get("default"), label=extras.get("label") or _label_from_name(name),
        formula=extras.get("formula"),
    )


@dataclass
class ObjectSpec:
    name: str
    key_prefix: str
    label_plural: str
    fields: dict[str, FieldSpec] = field(default_factory=dict)

    @cached_property
    def by_lower(self) -> dict[str, FieldSpec]:
        return {name.lower(): spec for name, spec in self.fields.items()}

    @cached_property
    def relationships(self) -> dict[str, FieldSpec]:
        """Reference fields by lower-cased relationship name (Owner, Account, ConvertedContact...)."""
        return {spec.relationship_name.lower(): spec for spec in self.fields.values() if spec.relationship_name}

    def field(self, name: str) -> FieldSpec | None:
        return self.by_lower.get(name.lower())

    def sobject_entry(self, version: str) -> dict[str, Any]:
        flags = {"createable": True, "updateable": True, "deletable": True, "undeletable": True,
                 "searchable": True, **OBJECT_FLAGS.get(self.name, {})}
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {
            "activateable": False, "associateEntityType": None, "associateParentEntity": None,
            "createable": flags["createable"], "custom": False, "customSetting": False, "deepCloneable": False,
            "deletable": flags["deletable"], "deprecatedAndHidden": False, "feedEnabled": True,
            "hasSubtypes": False, "isInterface": False, "isSubtype": False, "keyPrefix": self.key_prefix,
            "label": self.name if self.name != "OpportunityContactRole" else "Contact Role",
            "labelPlural": self.label_plural, "layoutable": True,
            "mergeable": self.name in ("Lead", "Contact", "Account"),
            "mruEnabled": True, "name": self.name, "queryable": True, "replicateable": True, "retrieveable": True,
            "searchable": flags["searchable"], "triggerable": True, "undeletable": flags["undeletable"],
            "updateable": flags["updateable"],
            "urls": {"compactLayouts": f"{base}/describe/compactLayouts", "rowTemplate": f"{base}/{{ID}}",
                     "approvalLayouts": f"{base}/describe/approvalLayouts", "listviews": f"{base}/listviews",
                     "describe": f"{base}/describe", "quickActions": f"{base}/quickActions",
                     "layouts": f"{base}/describe/layouts", "sobject": base},
        }

    def describe(self, version: str) -> dict[str, Any]:
        out = self.sobject_entry(version)
        out.update({
            "actionOverrides": [], "childRelationships": [
                {"cascadeDelete": child != "Task", "childSObject": child, "deprecatedAndHidden": False,
                 "field": child_field, "junctionIdListNames": [], "junctionReferenceTo": [],
                 "relationshipName": rel, "restrictedDelete": False}
                for child, child_field, rel in CHILD_RELATIONSHIPS.get(self.name, [])
            ],
            "compactLayoutable": True, "defaultImplementation": None, "extendedBy": None,
            "extendsInterfaces": None, "fields": [spec.describe() for spec in self.fields.values()],
            "implementedBy": None, "implementsInterfaces": None, "listviewable": None, "lookupLayoutable": None,
            "namedLayoutInfos": [], "networkScopeFieldName": None,
            "recordTypeInfos": [{
                "active": True, "available": True, "defaultRecordTypeMapping": True, "developerName": "Master",
                "master": True, "name": "Master", "recordTypeId": "012000000000000AAA",
                "urls": {"layout": f"/services/data/v{version}/sobjects/{self.name}/describe/layouts/"
                                   "012000000000000AAA"},
            }],
            "searchLayoutable": True, "sobjectDescribeOption": "FULL", "supportedScopes": [
                {"label": "All " + self.label_plural.lower(), "name": "everything"}],
        })
        return out


def _build() -> dict[str, ObjectSpec]:
    system = [_parse_field(line) for line in SYSTEM_FIELDS.strip().splitlines()]
    objects: dict[str, ObjectSpec] = {}
    for name, (prefix, plural, spec_text) in OBJECT_SPECS.items():
        obj = ObjectSpec(name, prefix, plural)
        own = [_parse_field(line) for line in spec_text.strip().splitlines()]
        for spec in [system[0], *own, *system[1:]]:
            obj.fields[spec.name] = spec
        objects[name] = obj
    return objects


OBJECTS: dict[str, ObjectSpec] = _build()
OBJECTS_BY_LOWER = {name.lower(): spec for name, spec in OBJECTS.items()}
PREFIX_TO_OBJECT = {spec.key_prefix: name for name, spec in OBJECTS.items()}


def object_spec(name: str) -> ObjectSpec | None:
    return OBJECTS_BY_LOWER.get(name.lower())
