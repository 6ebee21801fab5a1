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
sign-in-certificate = Войти по сертификату ({ $name })
sign-in-no-certificate = Браузер не предъявил сертификат сотрудника, выданный национальным УЦ, или он отозван.
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
filter-any = любое
filter-overdue = Только просроченные
filter-apply = Отобрать
alerts-left = осталось { $left } на подтверждение
admin-no-alerts = Администраторы не видят оповещений. Учётными записями управляет команда `tulpar user`.

## Отказы

refused-csrf = Срок действия формы истёк, или она отправлена с другого сайта. Обновите страницу и повторите попытку.
page-not-found = Такой страницы нет.
page-too-large = Форма слишком велика: к оповещению или результату можно приложить не более 4 МиБ файлов, по 2 МиБ каждый.

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
enum-TRANSPORT_MODE_SEA = Морской
enum-TRANSPORT_MODE_RAIL = Железнодорожный
enum-TRANSPORT_MODE_ROAD = Автомобильный
enum-TRANSPORT_MODE_AIR = Воздушный
enum-TRANSPORT_MODE_MULTIMODAL = Мультимодальный
enum-TRANSPORT_DOCUMENT_KIND_BILL_OF_LADING = Коносамент
enum-TRANSPORT_DOCUMENT_KIND_AIR_WAYBILL = Авиагрузовая накладная
enum-TRANSPORT_DOCUMENT_KIND_RAIL_WAYBILL_CIM = Железнодорожная накладная ЦИМ
enum-TRANSPORT_DOCUMENT_KIND_RAIL_WAYBILL_SMGS = Железнодорожная накладная СМГС
enum-TRANSPORT_DOCUMENT_KIND_ROAD_CMR = Накладная CMR
enum-RISK_INDICATOR_ROUTE_INCONSISTENT_WITH_GOODS = Маршрут не соответствует товару
enum-RISK_INDICATOR_FIRST_TIME_CONSIGNEE = Получатель впервые ввозит товары
enum-RISK_INDICATOR_FIRST_TIME_SHIPPER = Отправитель впервые вывозит товары
enum-RISK_INDICATOR_UNDER_VALUATION = Занижение стоимости
enum-RISK_INDICATOR_WEIGHT_DISCREPANCY = Расхождение в весе
enum-RISK_INDICATOR_CONCEALMENT_METHOD = Подозрение на известный способ сокрытия
enum-RISK_INDICATOR_KNOWN_SUSPECT_PARTY = Участник известен по прежним делам
enum-RISK_INDICATOR_VAGUE_GOODS_DESCRIPTION = Размытое описание товара
enum-RISK_INDICATOR_HS_CODE_INCONSISTENT = Код ТН ВЭД не соответствует описанию
enum-RISK_INDICATOR_HIGH_RISK_ORIGIN = Происхождение с высоким риском
enum-RISK_INDICATOR_UNUSUAL_TRANSSHIPMENT = Необычная перевалка или смена маршрута
enum-RISK_INDICATOR_DOCUMENT_ANOMALY = Несоответствия в документах
enum-RISK_INDICATOR_CASH_PAYMENT = Оплата наличными
enum-RISK_INDICATOR_CONTAINER_ANOMALY = Аномалия пломбы, рентгеновского снимка или контейнера
enum-RISK_INDICATOR_INTELLIGENCE_REPORT = Оперативные сведения
enum-RISK_INDICATOR_OTHER = Другое (см. примечания)
enum-REQUESTED_ACTION_MONITOR = Наблюдать и сообщить, не вмешиваясь
enum-REQUESTED_ACTION_INSPECT_ON_ARRIVAL = Досмотреть по прибытии
enum-REQUESTED_ACTION_HOLD = Задержать до получения сведений
enum-REQUESTED_ACTION_CONTROLLED_DELIVERY = Контролируемая поставка: сначала согласовать с отправителем
enum-HANDLING_CODE_H0 = H0: для правоохранительных органов
enum-HANDLING_CODE_H1 = H1: не как доказательство без согласия отправителя
enum-HANDLING_CODE_H2 = H2: не передавать дальше без согласия отправителя
enum-HANDLING_CODE_H3 = H3: иные ограничения (см. ограничения)
enum-SOURCE_RELIABILITY_A = A: всегда надёжен
enum-SOURCE_RELIABILITY_B = B: в основном надёжен
enum-SOURCE_RELIABILITY_C = C: в основном ненадёжен
enum-SOURCE_RELIABILITY_X = X: оценить нельзя
enum-INFORMATION_ACCURACY_1 = 1: достоверно известно
enum-INFORMATION_ACCURACY_2 = 2: известно источнику лично
enum-INFORMATION_ACCURACY_3 = 3: подтверждено другими сведениями
enum-INFORMATION_ACCURACY_4 = 4: оценить нельзя
enum-ACKNOWLEDGEMENT_DECISION_ACCEPTED = Принято
enum-ACKNOWLEDGEMENT_DECISION_DECLINED = Отклонено

## Поля оповещения и ответов (имена proto3 JSON)

field-origin = Отправитель
field-country = Страна
field-unit = Подразделение
field-recipients = Получатели
field-units = Подразделения
field-priority = Приоритет
field-category = Категория угрозы
field-transportMode = Вид транспорта
field-consignment = Груз
field-containers = Контейнеры
field-transportDocument = Транспортный документ
field-kind = Вид
field-number = Номер
field-conveyance = Транспортное средство
field-vessel = Судно
field-name = Наименование
field-imoNumber = Номер ИМО
field-voyage = Рейс судна
field-flightNumber = Авиарейс
field-trainNumber = Поезд
field-vehiclePlates = Госномера
field-route = Маршрут
field-loading = Погрузка
field-transit = Транзит
field-discharge = Выгрузка
field-finalDestination = Конечный пункт
field-transitCountries = Страны транзита
field-locode = UN/LOCODE
field-expectedArrival = Ожидаемое прибытие
field-parties = Участники
field-shipper = Отправитель груза
field-consignee = Получатель груза
field-notifyParty = Уведомляемая сторона
field-declarant = Декларант
field-address = Адрес
field-identifier = Идентификатор
field-goods = Товары
field-description = Описание
field-hsCode = Код ТН ВЭД
field-nationalTariffCode = Национальный код
field-packages = Мест
field-packageKind = Вид упаковки
field-grossWeightKg = Вес брутто, кг
field-declaredValue = Заявленная стоимость
field-currency = Валюта
field-amount = Сумма
field-permits = Разрешения
field-citesPermits = Разрешения СИТЕС
field-permitNumber = Номер разрешения
field-issuingCountry = Страна выдачи
field-species = Вид
field-quantity = Количество
field-exportLicences = Экспортные лицензии
field-licenceNumber = Номер лицензии
field-controlListEntries = Позиции контрольных списков
field-risk = Риск
field-indicators = Индикаторы
field-notes = Примечания
field-requestedAction = Запрошенные действия
field-handling = Обращение с информацией
field-code = Код
field-restrictions = Ограничения
field-sourceReliability = Надёжность источника
field-informationAccuracy = Достоверность сведений
field-narrative = Описание
field-narrativeLanguage = Язык описания
field-acknowledgement = Подтверждение
field-decision = Решение
field-note = Примечание
field-outcome = Результат
field-seizure = Изъятие
field-items = Позиции
field-items-unit = Единица измерения
field-caseReference = Номер дела
field-nothingFound = Ничего не обнаружено
field-notInspected = Не досматривался
field-reason = Причина
field-didNotArrive = Груз не прибыл
field-correction = Исправляет прежний результат
field-correctsResponseId = Исправленный результат

## Одно оповещение

alert-title = Оповещение { $id }
alert-created = Создано
alert-direction = Направление
alert-signed-by = Подписано { $unit } (ключ { $key }); подпись проверена при записи оповещения узлом.
alert-content = Содержание
alert-attachments = Вложения
alert-attachment-size = { $size } байт
alert-recipients = Получатели и их ответы
alert-deadline = Подтвердить до
alert-state = Состояние
alert-step-by = { $actor }
alert-back = Все оповещения
alert-not-found = Такого оповещения нет, или вам его не видно.
answer-title = Ответ от имени { $unit }
answer-note = Примечание
answer-accept = Подтвердить: принимаем в работу
answer-decline-reason = Причина отказа
answer-decline = Отклонить
answer-outcome = Сообщить результат
answer-outcome-kind = Что произошло
answer-outcome-nothing-found = Досмотрено, ничего не обнаружено
answer-outcome-seizure = Товары изъяты
answer-outcome-not-inspected = Не досматривалось
answer-outcome-did-not-arrive = Груз не прибыл
answer-seized-description = Что изъято
answer-seized-hs = Код ТН ВЭД
answer-seized-quantity = Количество
answer-seized-unit = Единица измерения
answer-not-inspected-reason = Почему не досматривалось
answer-refused = Узел отклонил ответ:
alert-step-superseded = позже исправлено
answer-correct-title = Исправить результат
answer-correct-hint = Сообщённый результат сохраняется в журнале; исправление заменяет его в отчётах и отправляется отправителю.
answer-correct-reason = Почему прежний результат неверен
answer-correct = Отправить исправление
answer-seized-items = Изъятые товары
answer-case-reference = Номер дела или протокола изъятия
answer-attachments = Фотографии и документы
answer-attachments-hint = До 8 файлов, по 2 МиБ, всего не более 4 МиБ.
yes = да
no = нет

## Составление оповещения

compose-title = Составить оповещение
compose-template = Начать с шаблона:
template-drugs = наркотики и прекурсоры
template-cites = дикая фауна и древесина (СИТЕС)
template-strategic = стратегические товары (РСБ ООН 1540)
template-firearms = оружие
compose-choose = — выберите —
compose-containers-hint = Один или несколько через запятую; пробелы внутри номера допустимы: MSCU 123456 6.
compose-locode-hint = UN/LOCODE, например KZ AKX или UZTAS.
compose-refused = Узел не отправил оповещение. Исправьте отмеченное:
compose-submit = Подписать и отправить

## Национальный координатор

decimal-separator = ,
partners-title = Партнёры
partners-country = Страна
partners-state = Состояние
partners-last-contact = Последняя связь
partners-outbox = Ожидают отправки
partners-undeliverable = Отклонено окончательно
partners-directory = Версия справочника
partners-reachable = доступен
partners-no-contact = связи ещё не было
partners-unreachable = недоступен
report-title = Отчёт об обмене
report-from = С (первый день)
report-to = По (последний день)
report-dates-hint = Даты в виде 29.11.2026 или 2026-11-29, по UTC.
report-show = Показать
report-empty = За этот период оповещениями не обменивались.
report-chart = Оповещения по категориям угроз, отправленные и полученные
report-partner = Партнёр
report-alerts = Оповещения
report-delivered = Доставлено
report-delivery-time = Время доставки, медиана / 90%
report-answer-time = Время ответа, медиана / 90%
report-answered = Ответы
report-outcomes = Результаты
report-overdue = Просрочено
report-seconds = { $value } с
report-times-hint = Время отсчитывается от создания оповещения до квитанции или ответа.
report-csv = Скачать CSV
report-refused = Период указан неверно:
alarm-title = Тревога: { $country } предъявил две версии своего журнала
alarm-evidence = Две подписанные контрольные точки
accounts-title = Учётные записи
accounts-hint = Сотрудники страны, которые могут входить в консоль. Администратор добавляет учётные записи и сбрасывает пароли командой `tulpar user`; отключение здесь сразу завершает сеансы.
accounts-person = Сотрудник
accounts-role = Роль
accounts-role-officer = Сотрудник ППК
accounts-role-focal-point = Национальный координатор
accounts-role-admin = Администратор
accounts-last-sign-in = Последний вход
accounts-disabled = отключена
accounts-locked = заблокирована до
accounts-active = действует
accounts-disable = Отключить

## Выгрузки для таблиц

excel-delivery-median = Доставка, медиана, с
excel-delivery-p90 = Доставка, 90%, с
excel-answer-median = Ответ, медиана, с
excel-answer-p90 = Ответ, 90%, с
excel-field = Поле
excel-value = Значение
excel-signed-by = Подписано
report-excel = Скачать для Excel
alert-export = Скачать для Excel

# Правила, по которым узел отклоняет значение; показываются у поля; { $value } — значение, как введено.
violation-required = обязательное поле
violation-choose = выберите значение
violation-too-long = длина { $chars } символов; допускается не более { $max }
violation-too-many = { $count } элементов; допускается не более { $max }
violation-control-character = содержит управляющий символ { $code }
violation-number = «{ $value }» — не число
violation-character = «{ $value }» содержит недопустимый здесь символ «{ $character }»
violation-check-digit = «{ $value }»: контрольная цифра не сходится (ожидается { $expected })
violation-container-shape = «{ $value }» — не номер контейнера (4 буквы, последняя U, J или Z, затем 7 цифр)
violation-imo-shape = «{ $value }» — не номер ИМО (7 цифр)
violation-awb-shape = «{ $value }» — не номер авианакладной (префикс авиакомпании из 3 цифр, затем 8 цифр)
violation-locode-shape = «{ $value }» — не код UN/LOCODE (код страны, затем 3 буквы или цифры)
violation-hs-shape = «{ $value }» — не код ТН ВЭД (6 цифр)
violation-hs-chapter = «{ $value }» относится к группе { $chapter }, которая не используется в Гармонизированной системе
violation-country = «{ $value }» — не код страны (ISO 3166-1, две буквы)
