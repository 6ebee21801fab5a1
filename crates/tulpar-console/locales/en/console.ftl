# The console in English. Every message of the console is here; a translator copies this folder to
# locales/<language>/ and translates the text after each "=", leaving ids and { $variables } as they are.

# The language's own name, as shown in the language menu.
language-name = English

app-title = Tulpar
app-tagline = High-risk consignment alerts between Port Control Units

## Signing in

sign-in-title = Sign in
sign-in-name = Name
sign-in-password = Password
sign-in-code = Code from the authenticator app
sign-in-code-hint = Only if your account uses one: six digits.
sign-in-submit = Sign in
sign-in-wrong = The name, password or code is wrong.
sign-in-code-needed = This account needs the code from its authenticator app.
sign-in-locked = Too many failed sign-ins: the account is locked until { $until } (UTC), or until an administrator resets its password.
sign-in-throttled = Too many failed sign-ins from this address. Try again in a minute.
sign-in-certificate = Sign in with your certificate ({ $name })
sign-in-no-certificate = The browser presented no certificate of a person from this country's CA, or it was revoked.
sign-in-busy = The node is busy. Try again in a moment.
sign-in-failed = The node cannot sign anyone in now. Tell your administrator.
signed-out = You have signed out.
session-ended = Your session has ended. Sign in again.

## The page frame

signed-in-as = Signed in as { $name }
sign-out = Sign out
language-menu = Language
language-apply = Change
role-officer = Officer of { $unit }
role-focal-point = Focal point of { $country }
role-admin = Administrator of { $country }
skip-to-content = Skip to the content
time-utc = { $time } UTC

## Alerts

alerts-title = Alerts
alerts-empty = No alerts yet.
alerts-column-created = Created
alerts-column-direction = Direction
alerts-column-priority = Priority
alerts-column-category = Category
alerts-column-origin = From
alerts-column-recipients = To, and their state
alerts-overdue = overdue
alerts-more = Only the newest { $count } are shown.
signals-enable = Turn on sound and notifications for urgent alerts
signals-enabled = Sound and notifications are on
signal-urgent-title = Urgent alert received
filter-any = any
filter-overdue = Overdue only
filter-apply = Filter
filter-search = Container, document or vessel
filter-search-hint = e.g. MSCU 784512
alerts-left = { $left } left to acknowledge
admin-no-alerts = Administrators see no alerts. Manage accounts with `tulpar user`.

## Refusals

refused-csrf = This form has expired or came from another site. Reload the page and try again.
page-not-found = There is no such page.
page-too-large = The form is too large: an alert or an outcome takes at most 4 MiB of files, 2 MiB each.

## Code lists

enum-DIRECTION_SENT = Sent
enum-DIRECTION_RECEIVED = Received
enum-PRIORITY_URGENT = Urgent
enum-PRIORITY_HIGH = High
enum-PRIORITY_ROUTINE = Routine
enum-THREAT_CATEGORY_DRUGS_AND_PRECURSORS = Drugs and precursors
enum-THREAT_CATEGORY_CITES_WILDLIFE_AND_TIMBER = CITES wildlife and timber
enum-THREAT_CATEGORY_STRATEGIC_GOODS_AND_DUAL_USE = Strategic and dual-use goods (UNSCR 1540)
enum-THREAT_CATEGORY_FIREARMS_AND_AMMUNITION = Firearms and ammunition
enum-THREAT_CATEGORY_TRANSIT_FRAUD = Transit fraud
enum-THREAT_CATEGORY_MISDECLARED_AND_COUNTERFEIT_GOODS = Misdeclared and counterfeit goods
enum-THREAT_CATEGORY_CIGARETTES = Cigarettes
enum-THREAT_CATEGORY_CASH = Cash
enum-DELIVERY_STATE_QUEUED = Queued
enum-DELIVERY_STATE_DELIVERED = Delivered
enum-DELIVERY_STATE_ACKNOWLEDGED = Acknowledged
enum-DELIVERY_STATE_DECLINED = Declined
enum-DELIVERY_STATE_OUTCOME_RECORDED = Outcome reported
enum-DELIVERY_STATE_UNDELIVERABLE = Undeliverable
enum-TRANSPORT_MODE_SEA = Sea
enum-TRANSPORT_MODE_RAIL = Rail
enum-TRANSPORT_MODE_ROAD = Road
enum-TRANSPORT_MODE_AIR = Air
enum-TRANSPORT_MODE_MULTIMODAL = Multimodal
enum-TRANSPORT_DOCUMENT_KIND_BILL_OF_LADING = Bill of lading
enum-TRANSPORT_DOCUMENT_KIND_AIR_WAYBILL = Air waybill
enum-TRANSPORT_DOCUMENT_KIND_RAIL_WAYBILL_CIM = CIM rail consignment note
enum-TRANSPORT_DOCUMENT_KIND_RAIL_WAYBILL_SMGS = SMGS rail consignment note
enum-TRANSPORT_DOCUMENT_KIND_ROAD_CMR = CMR road consignment note
enum-RISK_INDICATOR_ROUTE_INCONSISTENT_WITH_GOODS = Route makes no sense for the goods
enum-RISK_INDICATOR_FIRST_TIME_CONSIGNEE = First-time consignee
enum-RISK_INDICATOR_FIRST_TIME_SHIPPER = First-time shipper
enum-RISK_INDICATOR_UNDER_VALUATION = Under-valuation
enum-RISK_INDICATOR_WEIGHT_DISCREPANCY = Weight discrepancy
enum-RISK_INDICATOR_CONCEALMENT_METHOD = Known concealment method suspected
enum-RISK_INDICATOR_KNOWN_SUSPECT_PARTY = Party known from previous cases
enum-RISK_INDICATOR_VAGUE_GOODS_DESCRIPTION = Vague goods description
enum-RISK_INDICATOR_HS_CODE_INCONSISTENT = HS code does not match the description
enum-RISK_INDICATOR_HIGH_RISK_ORIGIN = High-risk origin
enum-RISK_INDICATOR_UNUSUAL_TRANSSHIPMENT = Unusual transshipment or change of route
enum-RISK_INDICATOR_DOCUMENT_ANOMALY = Document anomaly
enum-RISK_INDICATOR_CASH_PAYMENT = Paid in cash
enum-RISK_INDICATOR_CONTAINER_ANOMALY = Seal, X-ray or container anomaly
enum-RISK_INDICATOR_INTELLIGENCE_REPORT = Intelligence report
enum-RISK_INDICATOR_OTHER = Other (see the notes)
enum-REQUESTED_ACTION_MONITOR = Monitor and report, do not intervene
enum-REQUESTED_ACTION_INSPECT_ON_ARRIVAL = Inspect on arrival
enum-REQUESTED_ACTION_HOLD = Hold pending further information
enum-REQUESTED_ACTION_CONTROLLED_DELIVERY = Controlled delivery: coordinate with the origin first
enum-HANDLING_CODE_H0 = H0: for law-enforcement use
enum-HANDLING_CODE_H1 = H1: not as evidence without the origin's consent
enum-HANDLING_CODE_H2 = H2: no onward sharing without the origin's consent
enum-HANDLING_CODE_H3 = H3: other restrictions (see restrictions)
enum-SOURCE_RELIABILITY_A = A: always reliable
enum-SOURCE_RELIABILITY_B = B: mostly reliable
enum-SOURCE_RELIABILITY_C = C: mostly unreliable
enum-SOURCE_RELIABILITY_X = X: cannot be assessed
enum-INFORMATION_ACCURACY_1 = 1: known to be true
enum-INFORMATION_ACCURACY_2 = 2: known personally to the source
enum-INFORMATION_ACCURACY_3 = 3: corroborated
enum-INFORMATION_ACCURACY_4 = 4: cannot be judged
enum-ACKNOWLEDGEMENT_DECISION_ACCEPTED = Accepted
enum-ACKNOWLEDGEMENT_DECISION_DECLINED = Declined

## Fields of an alert and of its answers (proto3 JSON names)

field-origin = Raised by
field-country = Country
field-unit = Unit
field-recipients = Recipients
field-units = Units
field-priority = Priority
field-category = Threat category
field-transportMode = Transport mode
field-consignment = Consignment
field-containers = Containers
field-transportDocument = Transport document
field-kind = Kind
field-number = Number
field-conveyance = Conveyance
field-vessel = Vessel
field-name = Name
field-imoNumber = IMO number
field-voyage = Voyage
field-flightNumber = Flight
field-trainNumber = Train
field-vehiclePlates = Vehicle plates
field-route = Route
field-loading = Loading
field-transit = Transit
field-discharge = Discharge
field-finalDestination = Final destination
field-transitCountries = Transit countries
field-locode = UN/LOCODE
field-expectedArrival = Expected arrival
field-parties = Parties
field-shipper = Shipper
field-consignee = Consignee
field-notifyParty = Notify party
field-declarant = Declarant
field-address = Address
field-identifier = Identifier
field-goods = Goods
field-description = Description
field-hsCode = HS code
field-nationalTariffCode = National tariff code
field-packages = Packages
field-packageKind = Kind of packages
field-grossWeightKg = Gross weight, kg
field-declaredValue = Declared value
field-currency = Currency
field-amount = Amount
field-permits = Permits
field-citesPermits = CITES permits
field-permitNumber = Permit number
field-issuingCountry = Issuing country
field-species = Species
field-quantity = Quantity
field-exportLicences = Export licences
field-licenceNumber = Licence number
field-controlListEntries = Control list entries
field-risk = Risk
field-indicators = Indicators
field-notes = Notes
field-requestedAction = Requested action
field-handling = Handling
field-code = Code
field-restrictions = Restrictions
field-sourceReliability = Source reliability
field-informationAccuracy = Information accuracy
field-narrative = Narrative
field-narrativeLanguage = Language of the narrative
field-acknowledgement = Acknowledgement
field-decision = Decision
field-note = Note
field-outcome = Outcome
field-seizure = Seizure
field-items = Items
field-items-unit = Unit of measure
field-caseReference = Case reference
field-nothingFound = Nothing found
field-notInspected = Not inspected
field-reason = Reason
field-didNotArrive = Did not arrive
field-correction = Corrects an earlier outcome
field-correctsResponseId = Outcome corrected

## One alert

alert-title = Alert { $id }
alert-created = Created
alert-direction = Direction
alert-signed-by = Signed by { $unit } (key { $key }); the signature was verified when the node recorded the alert.
alert-content = Content
alert-attachments = Attachments
alert-attachment-size = { $size } bytes
alert-recipients = Recipients and their answers
alert-deadline = Acknowledge by
alert-state = State
alert-step-by = by { $actor }
alert-back = All alerts
alert-not-found = There is no such alert, or you may not see it.
answer-title = Answer as { $unit }
answer-note = Note
answer-accept = Acknowledge: we take it on
answer-decline-reason = Why we decline
answer-decline = Decline
answer-outcome = Report the outcome
answer-outcome-kind = What happened
answer-outcome-nothing-found = Inspected, nothing found
answer-outcome-seizure = Goods seized
answer-outcome-not-inspected = Not inspected
answer-outcome-did-not-arrive = The consignment did not arrive
answer-seized-description = What was seized
answer-seized-hs = HS code
answer-seized-quantity = Quantity
answer-seized-unit = Unit of quantity
answer-not-inspected-reason = Why not inspected
answer-refused = The node refused the answer:
alert-step-superseded = corrected later
answer-correct-title = Correct the outcome
answer-correct-hint = The outcome you reported stays on record; the correction replaces it in reports and is sent to the sender.
answer-correct-reason = Why the earlier outcome was wrong
answer-correct = Send the correction
answer-seized-items = Goods seized
answer-case-reference = Case or seizure report number
answer-attachments = Photos and documents
answer-attachments-hint = Up to 8 files, 2 MiB each and 4 MiB in all.
yes = yes
no = no

## Writing an alert

compose-title = Write an alert
compose-template = Start from a template:
template-drugs = drugs and precursors
template-cites = CITES wildlife and timber
template-strategic = strategic goods (UNSCR 1540)
template-firearms = firearms
compose-choose = — choose —
compose-containers-hint = One or more, separated by commas; spaces inside a number are fine: MSCU 123456 6.
compose-locode-hint = UN/LOCODE, e.g. KZ AKX or UZTAS.
compose-refused = The node did not send the alert. Correct what is marked:
compose-submit = Sign and send
compose-check = Check without sending
compose-save = Save as a draft
compose-checked = The node found nothing wrong: the alert can be sent.
compose-saved = Saved as a draft. Open it from the list above to go on.
compose-saved-without-files = Saved as a draft, without its files: drafts keep text only. Attach the files again when you send.
compose-drafts-full = Not saved: at most 20 drafts are kept. Send or delete one first.
compose-attach-again = Browsers do not keep chosen files: attach them again before sending.
compose-drafts = Your drafts
compose-draft-empty = (nothing filled in yet)
compose-draft-delete = Delete
compose-attachments = Photos and documents
compose-attachments-hint = Drafts do not keep files.

## The focal point

decimal-separator = .
partners-title = Partners
partners-country = Country
partners-state = State
partners-last-contact = Last contact
partners-outbox = Waiting to go
partners-undeliverable = Refused for good
partners-directory = Directory version
partners-reachable = reachable
partners-no-contact = no contact yet
partners-unreachable = unreachable
report-title = Exchange report
report-from = From (first day)
report-to = To (last day)
report-dates-hint = Dates as 29.11.2026 or 2026-11-29, in UTC.
report-show = Show
report-empty = No alerts were exchanged in this period.
report-chart = Alerts by threat category, sent and received
report-partner = Partner
report-alerts = Alerts
report-delivered = Delivered
report-delivery-time = Delivery time, median / 90%
report-answer-time = Answer time, median / 90%
report-answered = Answers
report-outcomes = Outcomes
report-overdue = Overdue
report-seconds = { $value } s
report-times-hint = Times run from the alert's creation to the receipt or the answer.
report-csv = Download CSV
report-refused = The period is not valid:
alarm-title = Alarm: { $country } showed two versions of its ledger
alarm-evidence = The two signed checkpoints
accounts-title = Accounts
accounts-hint = People of this country who may sign in to the console. An administrator adds accounts and resets passwords with `tulpar user`; disabling one here ends its sessions at once.
accounts-person = Person
accounts-role = Role
accounts-role-officer = Officer
accounts-role-focal-point = Focal point
accounts-role-admin = Administrator
accounts-last-sign-in = Last sign-in
accounts-disabled = disabled
accounts-locked = locked until
accounts-active = active
accounts-disable = Disable

## Spreadsheet exports

excel-delivery-median = Delivery, median, s
excel-delivery-p90 = Delivery, 90%, s
excel-answer-median = Answer, median, s
excel-answer-p90 = Answer, 90%, s
excel-field = Field
excel-value = Value
excel-signed-by = Signed by
report-excel = Download for Excel
alert-export = Download for Excel

# Rules the node refuses, shown at the field; { $value } is the value as given.
violation-required = is required
violation-choose = choose one
violation-too-long = is { $chars } characters long; at most { $max } are allowed
violation-too-many = has { $count } items; at most { $max } are allowed
violation-control-character = contains the control character { $code }
violation-number = “{ $value }” is not a number
violation-character = “{ $value }” contains “{ $character }”, which is not allowed here
violation-check-digit = “{ $value }”: the check digit does not match (expected { $expected })
violation-container-shape = “{ $value }” is not a container number (4 letters ending in U, J or Z, then 7 digits)
violation-imo-shape = “{ $value }” is not an IMO number (7 digits)
violation-awb-shape = “{ $value }” is not an air waybill number (3-digit airline prefix, then 8 digits)
violation-locode-shape = “{ $value }” is not a UN/LOCODE (country code, then 3 letters or digits)
violation-hs-shape = “{ $value }” is not an HS code (6 digits)
violation-hs-chapter = “{ $value }” is in chapter { $chapter }, which the Harmonized System does not use
violation-country = “{ $value }” is not a country code (ISO 3166-1, two letters)
violation-search-length = give { $min } to { $max } characters (spaces and “-” do not count)
