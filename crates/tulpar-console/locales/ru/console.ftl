# Консоль на русском языке.

language-name = Русский

app-title = Тулпар
app-tagline = Оповещения о грузах высокого риска между подразделениями портового контроля

## Вход

sign-in-title = Вход
sign-in-name = Имя
sign-in-password = Пароль
sign-in-code = Код из приложения-аутентификатора
sign-in-code-hint = Только если он нужен вашей учётной записи: шесть цифр.
sign-in-submit = Войти
sign-in-wrong = Неверное имя, пароль или код.
sign-in-code-needed = Для этой учётной записи нужен код из приложения-аутентификатора.
sign-in-locked = Слишком много неудачных попыток входа: учётная запись заблокирована до { $until } (UTC) или до сброса пароля администратором.
sign-in-throttled = Слишком много неудачных попыток входа с этого адреса. Повторите через минуту.
sign-in-busy = Узел занят. Повторите попытку через минуту.
sign-in-failed = Узел сейчас не может выполнить вход. Сообщите администратору.
signed-out = Вы вышли из системы.
session-ended = Сеанс завершён. Войдите снова.

## Рамка страницы

signed-in-as = Вы вошли как { $name }
sign-out = Выйти
language-menu = Язык
language-apply = Сменить
role-officer = Сотрудник { $unit }
role-focal-point = Национальный координатор ({ $country })
role-admin = Администратор ({ $country })
skip-to-content = Перейти к содержимому
time-utc = { $time } UTC

## Оповещения

alerts-title = Оповещения
alerts-empty = Оповещений пока нет.
alerts-column-created = Создано
alerts-column-direction = Направление
alerts-column-priority = Приоритет
alerts-column-category = Категория
alerts-column-origin = Отправитель
alerts-column-recipients = Получатели и состояние
alerts-overdue = просрочено
alerts-more = Показаны только последние { $count }.
signals-enable = Включить звук и уведомления о срочных оповещениях
signals-enabled = Звук и уведомления включены
signal-urgent-title = Получено срочное оповещение
admin-no-alerts = Администраторы не видят оповещений. Учётными записями управляет команда `tulpar user`.

## Отказы

refused-csrf = Срок действия формы истёк, или она отправлена с другого сайта. Обновите страницу и повторите попытку.
page-not-found = Такой страницы нет.

## Справочники

enum-DIRECTION_SENT = Отправлено
enum-DIRECTION_RECEIVED = Получено
enum-PRIORITY_URGENT = Срочный
enum-PRIORITY_HIGH = Высокий
enum-PRIORITY_ROUTINE = Обычный
enum-THREAT_CATEGORY_DRUGS_AND_PRECURSORS = Наркотики и прекурсоры
enum-THREAT_CATEGORY_CITES_WILDLIFE_AND_TIMBER = Дикая фауна и древесина (СИТЕС)
enum-THREAT_CATEGORY_STRATEGIC_GOODS_AND_DUAL_USE = Стратегические товары и товары двойного назначения (РСБ ООН 1540)
enum-THREAT_CATEGORY_FIREARMS_AND_AMMUNITION = Оружие и боеприпасы
enum-THREAT_CATEGORY_TRANSIT_FRAUD = Мошенничество при транзите
enum-THREAT_CATEGORY_MISDECLARED_AND_COUNTERFEIT_GOODS = Недостоверно задекларированные и контрафактные товары
enum-THREAT_CATEGORY_CIGARETTES = Сигареты
enum-THREAT_CATEGORY_CASH = Наличные деньги
enum-DELIVERY_STATE_QUEUED = В очереди
enum-DELIVERY_STATE_DELIVERED = Доставлено
enum-DELIVERY_STATE_ACKNOWLEDGED = Принято
enum-DELIVERY_STATE_DECLINED = Отклонено
enum-DELIVERY_STATE_OUTCOME_RECORDED = Результат сообщён
enum-DELIVERY_STATE_UNDELIVERABLE = Не может быть доставлено
