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
admin-no-alerts = Administrators see no alerts. Manage accounts with `tulpar user`.

## Refusals

refused-csrf = This form has expired or came from another site. Reload the page and try again.
page-not-found = There is no such page.

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
