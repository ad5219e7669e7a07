#!/usr/bin/env python3
"""Writes seed.jsonl, the labelled seed corpus for the custos classifier.

The corpus is synthetic: fictional people and companies, and card numbers,
CPFs, IBANs and SSNs made up here (checksum-valid so detectors see them as
real-shaped, but random). Every message comes from a hand-written template in
one of three languages (en, pt, es) with slots filled from small vocabularies,
then lightly "chat-styled" (lower case, dropped accents, abbreviations) the
way people actually type on WhatsApp.

The output is deterministic: one seeded generator, lists only (no set or dict
iteration order is relied on), so running this twice writes the same bytes.

    python3 generate.py            # writes seed.jsonl next to this script

Labels: off_channel, promissory, complaint, inside_information,
gifts_entertainment, pii_leak, opt_out, harassment; an empty list marks a
clean business message. Clean messages deliberately include hard negatives
that share vocabulary with the risky ones ("the guarantee on the printer
expired", "my cell phone died, I'll email").
"""

import json
import os
import random
import unicodedata

SEED = 20250601
PER_CATEGORY = 30  # messages per category per language (brief asks >= 20)
CLEAN = 90  # clean messages per language (brief asks ~80)
LANGS = ["en", "pt", "es"]
CATEGORIES = [
    "off_channel",
    "promissory",
    "complaint",
    "inside_information",
    "gifts_entertainment",
    "pii_leak",
    "opt_out",
    "harassment",
]

# ---------------------------------------------------------------------------
# Fake identifiers with valid checksums.


def luhn_complete(prefix, length, rng):
    digits = [int(c) for c in prefix]
    while len(digits) < length - 1:
        digits.append(rng.randrange(10))
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    digits.append((10 - total % 10) % 10)
    return "".join(str(d) for d in digits)


def fake_card(rng):
    prefix = rng.choice(["4", "51", "53", "55", "37", "6011"])
    length = 15 if prefix == "37" else 16
    number = luhn_complete(prefix, length, rng)
    style = rng.randrange(3)
    if style == 0:
        return number
    sep = " " if style == 1 else "-"
    if length == 15:
        return sep.join([number[:4], number[4:10], number[10:]])
    return sep.join(number[i : i + 4] for i in range(0, 16, 4))


def fake_cpf(rng):
    while True:
        base = [rng.randrange(10) for _ in range(9)]
        if len(set(base)) > 1:
            break
    for weight_start in (10, 11):
        total = sum(d * w for d, w in zip(base, range(weight_start, 1, -1)))
        check = (total * 10) % 11
        base.append(0 if check == 10 else check)
    s = "".join(str(d) for d in base)
    if rng.random() < 0.6:
        return f"{s[:3]}.{s[3:6]}.{s[6:9]}-{s[9:]}"
    return s


IBAN_SHAPES = {"GB": ("NWBK", 14), "ES": ("", 20), "PT": ("", 21), "DE": ("", 18)}


def fake_iban(rng, country):
    bank, ndigits = IBAN_SHAPES[country]
    bban = bank + "".join(str(rng.randrange(10)) for _ in range(ndigits))
    rearranged = bban + country + "00"
    numeric = "".join(str(int(c, 36)) for c in rearranged)
    check = 98 - int(numeric) % 97
    iban = f"{country}{check:02d}{bban}"
    if rng.random() < 0.5:
        return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    return iban


def fake_ssn(rng):
    area = rng.choice([rng.randrange(1, 666), rng.randrange(667, 900)])
    group = rng.randrange(1, 100)
    serial = rng.randrange(1, 10000)
    return f"{area:03d}-{group:02d}-{serial:04d}"


def fake_phone(rng, lang):
    if lang == "en":
        return "+44 7" + "".join(str(rng.randrange(10)) for _ in range(3)) + " " + "".join(
            str(rng.randrange(10)) for _ in range(6)
        )
    if lang == "pt":
        return f"+55 11 9{rng.randrange(1000, 9999)}-{rng.randrange(1000, 9999)}"
    return f"+34 6{rng.randrange(10, 99)} {rng.randrange(100, 999)} {rng.randrange(100, 999)}"


# ---------------------------------------------------------------------------
# Slot vocabularies.

NAMES = {
    "en": ["Oliver", "Priya", "Tom", "Hannah", "Marcus", "Chloe", "Raj", "Sophie",
           "Daniel", "Grace", "Ben", "Amelia", "Kwame", "Fiona"],
    "pt": ["Rafael", "Juliana", "Thiago", "Camila", "Bruno", "Fernanda", "Lucas",
           "Beatriz", "Gustavo", "Larissa", "Mateus", "Patrícia", "Renata", "Caio"],
    "es": ["Javier", "Lucía", "Diego", "Carmen", "Alejandro", "Sofía", "Pablo",
           "Valentina", "Sergio", "Marta", "Andrés", "Elena", "Iñigo", "Paula"],
}
COMPANIES = {
    "en": ["Northgate Capital", "Halden Pharma", "Brightwater Holdings", "Pinecrest Retail",
           "Ashford Mining", "Kestrel Foods", "Larchmont Energy", "Orwell Telecom"],
    "pt": ["Corvina Energia", "Vale Serrano", "Alvorada Têxtil", "Quintal Logística",
           "Pampa Agro", "Farmácia Ipê", "Lumiar Saúde", "Serra Azul Mineração"],
    "es": ["Tecnomar", "Grupo Mirador", "Aceites del Sur", "Cumbre Seguros",
           "Navarra Renovables", "Farmacias Olmo", "Constructora Brisa", "Vinícola Tajo"],
}
FUNDS = {
    "en": ["the Atlas Income Fund", "the Meridian Growth fund", "our structured note",
           "the new bond ladder", "the Harbour Credit fund"],
    "pt": ["o Fundo Horizonte", "esse CDB", "o fundo multimercado Aurora",
           "a nova LCI", "o COE de ações"],
    "es": ["el Fondo Cumbre", "este depósito estructurado", "el fondo Aurora Renta",
           "la nueva cartera dinámica", "el bono convertible"],
}
DAYS = {
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "the 14th", "next week"],
    "pt": ["segunda", "terça", "quarta", "quinta", "sexta", "dia 14", "semana que vem"],
    "es": ["el lunes", "el martes", "el miércoles", "el jueves", "el viernes", "el día 14",
           "la semana que viene"],
}
PLACES = {
    "en": ["Monaco", "the Algarve", "Courchevel", "Ibiza", "Edinburgh", "Lake Como"],
    "pt": ["Trancoso", "Fernando de Noronha", "Gramado", "Paris", "Punta del Este", "Búzios"],
    "es": ["Marbella", "Cancún", "Ibiza", "Baqueira", "Tulum", "Mallorca"],
}
EVENTS = {
    "en": ["Wimbledon", "the Champions League final", "Silverstone", "the Six Nations",
           "the Coldplay gig", "Ascot"],
    # Portuguese events carry their contracted preposition ("no", "na").
    "pt": ["no GP de Interlagos", "na final da Libertadores", "no show do Coldplay",
           "no Rock in Rio", "no Fla-Flu", "na Sapucaí"],
    "es": ["el Clásico", "la final de la Copa del Rey", "el Mutua Madrid Open",
           "el concierto de Coldplay", "el GP de Montmeló", "la Feria de Abril"],
}
RESTAURANTS = {
    "en": ["The Ivy", "Nobu", "Hawksmoor", "the Savoy Grill"],
    "pt": ["Fasano", "D.O.M.", "Figueira Rubaiyat", "Mani"],
    "es": ["DiverXO", "Botín", "Asador Etxebarri", "Zalacaín"],
}
GIFTS = {
    "en": ["a Rolex", "an iPad Pro", "a case of Dom Pérignon", "a £500 Harrods voucher",
           "a bottle of Macallan 18"],
    "pt": ["um Rolex", "um iPhone novo", "uma caixa de vinho", "um vale de R$ 2.000",
           "uma garrafa de Macallan 18"],
    "es": ["un Rolex", "un iPhone nuevo", "una caja de Vega Sicilia", "una tarjeta de 500 €",
           "una botella de Macallan 18"],
}
DIAGNOSES = {
    "en": ["type 2 diabetes", "stage II breast cancer", "HIV positive", "major depression",
           "epilepsy", "hepatitis C"],
    "pt": ["diabetes tipo 2", "câncer de mama estágio II", "HIV positivo", "depressão grave",
           "epilepsia", "hepatite C"],
    "es": ["diabetes tipo 2", "cáncer de mama estadio II", "VIH positivo", "depresión mayor",
           "epilepsia", "hepatitis C"],
}
DRUGS = ["metformin", "tamoxifen", "sertraline", "lamotrigine", "sofosbuvir"]
PERSONAL_EMAIL_DOMAINS = ["gmail.com", "hotmail.com", "outlook.com", "yahoo.com", "proton.me"]
APPS = ["Signal", "Telegram", "WeChat", "signal", "telegram", "Wickr"]
MONTHS = {
    "en": ["March", "June", "September", "December", "year end"],
    "pt": ["março", "junho", "setembro", "dezembro", "fim do ano"],
    "es": ["marzo", "junio", "septiembre", "diciembre", "fin de año"],
}
AMOUNT_FMT = {
    "en": lambda rng: rng.choice(["£", "$"]) + f"{rng.choice([2, 5, 8, 12, 15, 40, 250])},000",
    "pt": lambda rng: f"R$ {rng.choice([3, 7, 10, 18, 25, 60, 300])}.000",
    "es": lambda rng: f"{rng.choice([3, 6, 9, 14, 20, 45, 200])}.000 €",
}
PRICE_FMT = {
    "en": lambda rng: f"{rng.randrange(3, 40)}.{rng.randrange(10, 99)}",
    "pt": lambda rng: f"R$ {rng.randrange(8, 60)},{rng.randrange(10, 99)}",
    "es": lambda rng: f"{rng.randrange(5, 45)},{rng.randrange(10, 99)} €",
}
TIMES = ["9:30", "10:00", "11:15", "14:00", "15:30", "16:45"]


class Slots(dict):
    """Fills a template's {slot}s lazily, drawing each from the generator."""

    def __init__(self, rng, lang):
        super().__init__()
        self.rng = rng
        self.lang = lang

    def __missing__(self, key):
        rng, lang = self.rng, self.lang
        makers = {
            "name": lambda: rng.choice(NAMES[lang]),
            "name2": lambda: rng.choice(NAMES[lang]),
            "company": lambda: rng.choice(COMPANIES[lang]),
            "company2": lambda: rng.choice([c for c in COMPANIES[lang] if c != self["company"]]),
            "fund": lambda: rng.choice(FUNDS[lang]),
            "day": lambda: rng.choice(DAYS[lang]),
            "place": lambda: rng.choice(PLACES[lang]),
            "event": lambda: rng.choice(EVENTS[lang]),
            "restaurant": lambda: rng.choice(RESTAURANTS[lang]),
            "gift": lambda: rng.choice(GIFTS[lang]),
            "diagnosis": lambda: rng.choice(DIAGNOSES[lang]),
            "drug": lambda: rng.choice(DRUGS),
            "app": lambda: rng.choice(APPS),
            "month": lambda: rng.choice(MONTHS[lang]),
            "amount": lambda: AMOUNT_FMT[lang](rng),
            "price": lambda: PRICE_FMT[lang](rng),
            "pct": lambda: str(rng.choice([8, 10, 12, 15, 18, 20, 25, 30])),
            "n": lambda: str(rng.randrange(2, 9)),
            "q": lambda: str(rng.randrange(1, 5)),
            "time": lambda: rng.choice(TIMES),
            "card": lambda: fake_card(rng),
            "cpf": lambda: fake_cpf(rng),
            "iban": lambda: fake_iban(rng, {"en": "GB", "pt": "PT", "es": "ES"}[lang]),
            "ssn": lambda: fake_ssn(rng),
            "phone": lambda: fake_phone(rng, lang),
            "exp": lambda: f"{rng.randrange(1, 13):02d}/{rng.randrange(26, 31)}",
            "cvv": lambda: f"{rng.randrange(100, 1000)}",
            "dob": lambda: f"{rng.randrange(1, 29):02d}/{rng.randrange(1, 13):02d}/{rng.randrange(1950, 2002)}",
            "pemail": lambda: (
                self["name"].lower().replace("í", "i").replace("ñ", "n").replace("á", "a")
                + rng.choice(["", ".", "_"])
                + str(rng.randrange(70, 99))
                + "@"
                + rng.choice(PERSONAL_EMAIL_DOMAINS)
            ),
            "ticket": lambda: f"{rng.randrange(10000, 99999)}",
            "room": lambda: rng.choice(["3B", "4.12", "Thames", "Ipanema", "Retiro", "the boardroom"]),
        }
        value = makers[key]()
        self[key] = value
        return value


# ---------------------------------------------------------------------------
# Templates. A plain string is labelled with its section's category; a tuple
# (text, [labels]) carries its own labels (multi-label messages).

T = {}

T["off_channel"] = {
    "en": [
        "text me on my personal number instead, {phone}",
        "{name} can we move this to {app}? this chat gets recorded",
        "lets take this to telegram, easier to talk there",
        "delete this chat after you read it pls",
        "call my cell tonight, not the desk line",
        "send the numbers to my private email {pemail}, not the work one",
        "whatsapp me on my other phone, this one is monitored by compliance",
        "ping me on wechat about the {company} allocation",
        "dont put that in writing here, ring my mobile later",
        "use my gmail for this one: {pemail}",
        "switch to my personal whatsapp, the bank one is archived",
        "I'll send you the details on Signal, disappearing messages on",
        "clear this conversation once you've seen it ok",
        "not on this line mate, text me on my own phone",
        "my personal number is {phone}, message me there about the fees",
        "better if we chat on {app}, I don't want this on the firm's system",
        "can you delete those last messages? shouldn't have sent them here",
        "email me at {pemail} - keep it off the work system",
        ("{company} numbers come out {day} and they're bad. move this to Signal", ["inside_information", "off_channel"]),
        ("I'll tell you the takeover price but only on my personal phone, it's not public yet", ["inside_information", "off_channel"]),
    ],
    "pt": [
        "me chama no meu número pessoal, {phone}",
        "{name} vamos passar isso pro {app}? aqui é tudo gravado",
        "manda no telegram que é melhor",
        "apaga essa conversa depois de ler, por favor",
        "me liga no celular particular mais tarde",
        "manda pro meu email pessoal {pemail}",
        "me chama no zap do meu outro celular, esse a empresa monitora",
        "esse número é da empresa, fala comigo no meu pessoal",
        "não escreve isso aqui, me liga no meu cel",
        "apaga as mensagens de hoje",
        "vamos continuar pelo {app}",
        "me manda no meu gmail, não no corporativo: {pemail}",
        "conversa melhor pelo Signal, com mensagens temporárias",
        "meu numero pessoal é {phone}, me chama lá sobre a taxa",
        "deleta esse chat, o compliance lê tudo",
        "aqui não, depois te ligo do meu celular particular",
        "me adiciona no telegram que lá a gente fala da operação da {company}",
        "email pessoal: {pemail}, manda por lá e não copia ninguém",
        ("o balanço da {company} sai {day} e vem ruim, fala comigo no signal", ["inside_information", "off_channel"]),
        ("te passo o preço da OPA mas só no meu celular pessoal, ainda não é público", ["inside_information", "off_channel"]),
    ],
    "es": [
        "escríbeme a mi número personal, {phone}",
        "{name} pasamos esto a {app}? aquí se graba todo",
        "mejor hablamos por telegram",
        "borra este chat cuando lo leas porfa",
        "llámame al móvil personal esta noche",
        "mándalo a mi correo personal {pemail}",
        "háblame por mi otro whatsapp, este lo revisa cumplimiento",
        "no lo pongas por aquí, llámame al celular",
        "elimina esta conversación",
        "seguimos por {app}",
        "envíamelo a mi gmail, no al corporativo: {pemail}",
        "te lo paso por Signal con mensajes temporales",
        "mi número personal es {phone}, escríbeme ahí lo de las comisiones",
        "borra los mensajes de hoy, no debí mandarlos aquí",
        "por aquí no, te llamo luego desde mi móvil",
        "agrégame en telegram y hablamos de la operación de {company}",
        "correo personal: {pemail}, mándalo ahí sin copiar a nadie",
        "este número es de la empresa, usa mi personal",
        ("los resultados de {company} salen {day} y vienen mal, hablamos por signal", ["inside_information", "off_channel"]),
        ("te digo el precio de la OPA pero solo por mi móvil personal, todavía no es público", ["inside_information", "off_channel"]),
    ],
}

T["promissory"] = {
    "en": [
        "{fund} is guaranteed to return {pct}% a year",
        "you literally can't lose with {fund}",
        "it's risk-free, trust me, {pct}% by {month}",
        "I guarantee you'll double your money by {month}",
        "zero risk and guaranteed returns, capital protected no matter what",
        "worst case you make {pct}%, there's no downside at all",
        "{company} shares will go up, I promise you",
        "guaranteed {pct}% monthly, better than any savings account",
        "no way this loses money {name}, it's a sure thing",
        "you'll make at least {amount} on this, guaranteed",
        "it's a sure bet, can't go wrong with {fund}",
        "100% safe, you will get your {pct}% whatever the market does",
        "honestly no risk, I've never seen it go down",
        "put the {amount} in, returns are locked in at {pct}%",
    ],
    "pt": [
        "{fund} garante retorno de {pct}% ao ano",
        "retorno garantido de {pct}% ao mês, melhor que poupança",
        "não tem como perder dinheiro com {fund}",
        "é sem risco nenhum {name}, pode confiar",
        "te garanto que dobra em {n} meses",
        "investimento seguro, lucro certo",
        "risco zero, rendimento garantido",
        "a ação da {company} vai subir, eu prometo",
        "ganho certo, pode colocar tudo",
        "garantia de {pct}% de rentabilidade até {month}",
        "coloca os {amount} que o retorno de {pct}% tá garantido",
        "é 100% seguro, você vai ganhar seus {pct}% de qualquer jeito",
        "nunca vi esse fundo cair, não tem risco",
        "pode ficar tranquilo que não perde, é garantido",
    ],
    "es": [
        "{fund} garantiza un retorno del {pct}% anual",
        "rentabilidad garantizada del {pct}% al mes",
        "no hay forma de perder con {fund}",
        "es sin riesgo {name}, te lo aseguro",
        "te garantizo que duplicas tu dinero en {n} meses",
        "ganancia segura, no puedes perder",
        "riesgo cero, retorno garantizado",
        "las acciones de {company} van a subir, te lo prometo",
        "es una apuesta segura, mete todo",
        "te aseguro un {pct}% de rentabilidad antes de {month}",
        "pon los {amount} que el {pct}% está garantizado",
        "es 100% seguro, vas a ganar tu {pct}% pase lo que pase",
        "nunca he visto bajar este fondo, no tiene riesgo",
        "tranquilo que no pierdes, está garantizado",
    ],
}

T["complaint"] = {
    "en": [
        "I want to make a formal complaint about {name}",
        "this is unacceptable, I was charged {amount} in fees nobody told me about",
        "I've been waiting {n} weeks for my transfer, I'm going to the ombudsman",
        "you sold me a product I didn't understand and I lost {amount}",
        "I'm reporting this to the FCA",
        "nobody answers my calls, worst service ever, I want my money back",
        "I never authorised that trade, I want it reversed now",
        "please escalate this, I'm very unhappy with how my account was handled",
        "I'll be contacting my lawyer if this isn't sorted by {day}",
        "I was misled about the fees on {fund}",
        "third time I'm writing, still no reply. disgraceful",
        "I want to speak to a manager about the way {name} treated me",
        "how do I file a complaint? ticket {ticket} was closed without an answer",
        "your advisor pushed me into {fund} and now I've lost half, this is a scandal",
    ],
    "pt": [
        "quero fazer uma reclamação formal contra o {name}",
        "isso é um absurdo, cobraram {amount} de taxa sem avisar",
        "vou abrir reclamação no Procon",
        "estou esperando o resgate há {n} semanas, péssimo atendimento",
        "me venderam um produto que eu não entendi e perdi {amount}",
        "não autorizei essa operação, quero estorno",
        "vou processar vocês se não resolverem até {day}",
        "estou muito insatisfeito, quero falar com a ouvidoria",
        "vou reclamar no Banco Central e no Reclame Aqui",
        "é a terceira vez que escrevo e ninguém responde, vergonha",
        "fui enganado sobre as taxas do {fund}",
        "quero falar com o gerente sobre como o {name} me tratou",
        "protocolo {ticket} foi encerrado sem resposta, quero registrar reclamação",
        "o assessor me empurrou {fund} e perdi metade, que absurdo",
    ],
    "es": [
        "quiero poner una queja formal sobre {name}",
        "es inaceptable, me cobraron {amount} de comisiones sin avisar",
        "voy a poner una reclamación ante la CNMV",
        "llevo {n} semanas esperando la transferencia, pésimo servicio",
        "me vendieron un producto que no entendía y perdí {amount}",
        "no autoricé esa operación, quiero que la anulen",
        "voy a hablar con mi abogado si no lo arreglan antes de {day}",
        "estoy muy descontento, quiero hablar con el defensor del cliente",
        "voy a reclamar al Banco de España",
        "es la tercera vez que escribo y nadie contesta, una vergüenza",
        "me engañaron con las comisiones de {fund}",
        "quiero la hoja de reclamaciones, {name} me trató fatal",
        "la incidencia {ticket} la cerraron sin respuesta, quiero presentar una queja",
        "el asesor me metió en {fund} y he perdido la mitad, es un escándalo",
    ],
}

T["inside_information"] = {
    "en": [
        "{company} announces the merger with {company2} {day}, not public yet",
        "heard from a mate in their finance team, earnings are way below consensus. buy puts before the announcement",
        "keep this quiet: the {company} takeover bid is {price} a share",
        "get in before the announcement {day}",
        "Q{q} numbers leaked, {company} beat by a mile. don't tell anyone",
        "board approved the acquisition this morning, it's not public until {day}",
        "my cousin at {company} says the deal closes next week, load up now",
        "confidential: {company} profit warning coming {day}",
        "sell your {company} before results come out {day}, trust me",
        "the {company} merger isn't public yet but it's done, buy today",
        "inside info, {company} is about to lose the FDA approval, get out",
        "between us, {company2} is buying {company}, announcement {day}",
    ],
    "pt": [
        "a fusão da {company} com a {company2} sai {day}, ainda não é público",
        "compra antes do anúncio de {day}",
        "informação privilegiada: o balanço da {company} vai vir muito abaixo",
        "meu contato lá dentro disse que a aquisição foi aprovada, ninguém sabe ainda",
        "não espalha, mas a OPA da {company} vai ser a {price} por ação",
        "o resultado do {q}º tri vazou, vende tudo antes de {day}",
        "fato relevante da {company} sai {day}, aproveita antes",
        "entre nós: a {company2} vai comprar a {company}, anúncio {day}",
        "meu primo na {company} falou que o negócio fecha semana que vem, compra agora",
        "confidencial: a {company} vai soltar alerta de lucro {day}",
        "a fusão ainda não foi anunciada mas tá fechada, compra hoje",
        "vende a {company} antes do balanço, confia em mim",
    ],
    "es": [
        "la fusión de {company} con {company2} se anuncia {day}, todavía no es público",
        "compra antes del anuncio de {day}",
        "información privilegiada: los resultados de {company} salen muy por debajo",
        "un contacto dentro me dijo que aprobaron la adquisición, nadie lo sabe aún",
        "no lo cuentes, pero la OPA de {company} será a {price} por acción",
        "se filtraron los resultados del trimestre, vende antes de {day}",
        "el hecho relevante de {company} sale {day}, aprovecha antes",
        "entre nosotros: {company2} compra {company}, lo anuncian {day}",
        "mi primo en {company} dice que el acuerdo se cierra la semana que viene, compra ya",
        "confidencial: {company} va a emitir un profit warning {day}",
        "la fusión todavía no es pública pero está hecha, compra hoy",
        "vende las de {company} antes de los resultados, hazme caso",
    ],
}

T["gifts_entertainment"] = {
    "en": [
        "got you two tickets to {event}, box seats, on us",
        "we'd love to fly you to {place} for the weekend, all paid",
        "sending over {gift} to say thanks for the mandate",
        "dinner at {restaurant} on me {day}, bring your wife",
        "I've got {gift} for you, just keep the allocation coming",
        "the hotel in {place} is booked for you, spa included, our treat",
        "a little thank-you gift card of {amount} is on its way",
        "hospitality box at {event}, you in? all covered",
        "we'll cover flights and the villa in {place}, just say yes",
        "{name} the {gift} is a personal gift from us for the renewal",
        "our firm would like to host you and your family at {event}",
        "private jet to {place} this weekend, compliments of {company}",
    ],
    "pt": [
        "consegui dois ingressos pro camarote {event}, por nossa conta",
        "vamos te levar pra {place} no fim de semana, tudo pago",
        "mandei {gift} pra agradecer o contrato",
        "jantar no {restaurant} por minha conta {day}, leva sua esposa",
        "tenho um presente pra você: {gift}. só continua com a gente",
        "o hotel em {place} já está reservado pra você, com spa, cortesia nossa",
        "um vale-presente de {amount} pra você, obrigado pela parceria",
        "camarote {event}, topa? tudo pago",
        "a gente paga passagem e a casa em {place}, é só aceitar",
        "{name}, {gift} é um presente pessoal nosso pela renovação",
        "a empresa quer receber você e a família {event}",
        "jatinho pra {place} esse fim de semana, cortesia da {company}",
    ],
    "es": [
        "te conseguí dos entradas para el palco en {event}, invitamos nosotros",
        "te llevamos a {place} el fin de semana, todo pagado",
        "te mandé {gift} para agradecerte el contrato",
        "cena en {restaurant} {day}, invito yo, trae a tu mujer",
        "tengo un regalo para ti: {gift}. tú sigue con nosotros",
        "el hotel en {place} ya está reservado para ti, con spa, cortesía nuestra",
        "una tarjeta regalo de {amount} para ti, gracias por la confianza",
        "palco en {event}, te apuntas? todo pagado",
        "pagamos vuelos y la villa en {place}, solo di que sí",
        "{name}, {gift} es un regalo personal nuestro por la renovación",
        "la empresa quiere invitaros a ti y a tu familia, palco para {event}",
        "jet privado a {place} este finde, cortesía de {company}",
    ],
}

T["pii_leak"] = {
    "en": [
        "client card is {card} exp {exp} cvv {cvv}",
        "his SSN is {ssn}, can you run the credit check",
        "IBAN for the refund: {iban}, account holder {name} {company}",
        "patient {name}: diagnosis {diagnosis}, started on {drug}",
        "here's her full card number {card}",
        "DOB {dob}, social {ssn}, name {name}",
        "medical record for {name} says {diagnosis}, don't tell the manager",
        "card {card}, billing postcode SW1A 2AA",
        "ssn {ssn} - please update the KYC file",
        "his bank details: {iban}",
        "the doctor confirmed {diagnosis} for {name}, prescribing {drug}",
        "pay with this one {card} {exp}",
    ],
    "pt": [
        "o cartão do cliente é {card}, validade {exp}",
        "CPF dele: {cpf}",
        "número do cartão {card} cvv {cvv}",
        "o diagnóstico da paciente {name} é {diagnosis}",
        "IBAN pra devolução: {iban}",
        "cpf {cpf} e data de nascimento {dob}",
        "prontuário do paciente {name}: {diagnosis}, usando {drug}",
        "segue o cpf da cliente {cpf} pra cadastro",
        "cartão {card} venc {exp}, passa aí",
        "o médico confirmou {diagnosis} no paciente {name}",
        "dados bancários: {iban}, titular {name}",
        "me passa o cpf dela? achei: {cpf}",
    ],
    "es": [
        "la tarjeta del cliente es {card}, caduca {exp}",
        "número de tarjeta {card} cvv {cvv}",
        "el IBAN para la devolución es {iban}",
        "diagnóstico del paciente {name}: {diagnosis}",
        "historial médico de {name}: {diagnosis}, tratamiento con {drug}",
        "te paso el CPF del cliente brasileño: {cpf}",
        "tarjeta {card} venc {exp}, cóbralo ya",
        "el médico confirmó {diagnosis} en la paciente {name}",
        "datos bancarios: {iban}, titular {name}",
        "su SSN americano es {ssn}, para el formulario W-9",
        "cuenta {iban} y fecha de nacimiento {dob}",
        "paga con esta {card} {exp}",
    ],
}

T["opt_out"] = {
    "en": [
        "STOP", "stop", "Stop.", "STOP!!", "unsubscribe", "UNSUBSCRIBE", "Unsubscribe please",
        "cancel", "CANCEL", "stop texting me", "please stop sending me messages",
        "remove me from your list", "take me off this list", "opt me out", "opt out",
        "I don't want these messages anymore", "no more marketing please",
        "stop messaging this number", "unsubscribe me from {fund} updates",
        "don't contact me again", "STOP - wrong number", "stop all", "Stop please",
        "Unsubscribe.", "pls stop", "STOP STOP STOP", "stop sending promos",
        "I want to unsubscribe", "remove my number", "cancel subscription",
        "Please unsubscribe me", "no more messages", "STOP thanks",
    ],
    "pt": [
        "PARAR", "SAIR", "CANCELAR", "sair", "parar", "Cancelar.", "quero sair da lista",
        "não quero mais receber mensagens", "para de me mandar mensagem",
        "me tira dessa lista", "descadastrar", "cancelar inscrição",
        "pare de enviar", "não me mande mais nada", "SAIR!!", "remover meu número",
        "chega de mensagem, sair", "Sair por favor", "PARE", "cancelar envio",
        "não tenho interesse, me descadastra", "sair da lista", "Parar.",
        "nao quero receber mais nada", "STOP", "tira meu numero", "cancela",
        "por favor parem de me mandar promoção", "SAIR SAIR", "descadastrar meu número",
    ],
    "es": [
        "BAJA", "baja", "Baja.", "CANCELAR", "PARAR", "darme de baja", "quiero darme de baja",
        "no quiero recibir más mensajes", "deja de enviarme mensajes",
        "sácame de la lista", "elimina mi número", "no me escriban más",
        "cancelar suscripción", "STOP", "BAJA por favor", "Baja gracias",
        "dadme de baja", "no más mensajes", "cancelar", "parar",
        "no me interesa, baja", "borrad mi número de la lista", "BAJA!!",
        "por favor dejen de mandarme promociones", "baja de la lista", "quiero la baja",
        "Baja definitiva", "no quiero más publicidad", "stop, no me escriban",
        "parad de enviarme cosas",
    ],
}

T["harassment"] = {
    "en": [
        "you're useless, {name}, honestly a waste of space",
        "if you don't hit your numbers I'll make sure you never work in this city again",
        "shut up and do what you're told, idiot",
        "nice dress today, wear that for me after work ;)",
        "I know where you live {name}",
        "send me a photo of you, just for me",
        "stupid cow, fix the report",
        "keep crying and see what happens to your bonus",
        "you're pathetic, my dog could close this deal",
        "come to my hotel room tonight if you want that promotion",
        "say one word to HR and you're finished",
        "nobody wants you on this desk, just quit already",
    ],
    "pt": [
        "você é um inútil, {name}",
        "cala a boca e faz o que eu mandei, idiota",
        "se não bater a meta eu acabo com sua carreira",
        "que vestido lindo hoje, usa ele pra mim depois do expediente",
        "sei onde você mora, {name}",
        "manda uma foto sua, só pra mim",
        "burra, arruma esse relatório",
        "continua chorando e vê o que acontece com seu bônus",
        "você é patético, meu cachorro fechava esse negócio",
        "vem pro meu quarto no hotel hoje se quiser a promoção",
        "fala alguma coisa pro RH e você tá acabado",
        "ninguém te quer nessa mesa, pede demissão logo",
    ],
    "es": [
        "eres un inútil, {name}",
        "cállate y haz lo que te digo, idiota",
        "si no llegas al objetivo me encargo de que no trabajes más en esto",
        "qué guapa vienes hoy, ponte eso para mí después del trabajo",
        "sé dónde vives, {name}",
        "mándame una foto tuya, solo para mí",
        "estúpida, arregla el informe",
        "sigue llorando y verás lo que pasa con tu bonus",
        "eres patético, mi perro cerraría este trato",
        "ven a mi habitación del hotel esta noche si quieres el ascenso",
        "dile algo a RRHH y estás acabado",
        "nadie te quiere en esta mesa, vete ya",
    ],
}

CLEAN_T = {
    "en": [
        # hard negatives: share vocabulary with the risky categories
        "the guarantee on the printer expired last month, can you call the supplier",
        "my cell phone died, I'll email you the deck",
        "can you send the signed term sheet to {name}'s work email?",
        "bus stop outside the office is closed {day}, use the side entrance",
        "don't stop the reconciliation job until it finishes",
        "please cancel the {time} with {company}, moving it to {day}",
        "past performance is no guarantee of future results, please add that line to slide {n}",
        "earnings call for {company} is at {time}, dial-in is in the invite",
        "the announcement is already on {company}'s website, see the press release",
        "signal is terrible in room {room}, I'll dial in from my desk",
        "risk assessment for {fund} is attached, {name} signed it off",
        "we can't lose the {company} account, let's prep properly for {day}",
        "deleted the duplicate draft, the final version is on the shared drive",
        "the unsubscribe link in the newsletter is broken, can IT look at it",
        "gifts register updated, I declared the calendar from {company}",
        "diagnosis of the outage: the disk on the reporting server filled up",
        "{name} complained the room was cold lol, can facilities check",
        "the card machine at reception is broken again",
        "please use the payments portal for the supplier's bank details, not chat",
        "text me when you're downstairs and I'll come get you",
        "call me on the desk line after {time}",
        "the merger of the two ops teams goes live {day}, new rota attached",
        "quarterly results are public now, link in the team channel",
        "the fund's returns are not guaranteed, we need that wording in the email to {name}",
        "can you stop by my desk at {time}?",
        "the STOP keyword report for last month is in the dashboard",
        "{name} has a personal day {day}, {name2} covers",
        "please move the review to Teams, the room is taken",
        "the complaints procedure doc needs a refresh before the audit",
        "booked a table for the team lunch {day}, everyone pays their own",
        # plain business chat
        "morning {name}, can you check the settlement for the {company} trade",
        "KYC pack for {company} is complete, sending to onboarding",
        "running {n} minutes late, start without me",
        "client wants to rebalance towards bonds, can we talk at {time}",
        "thanks {name}, got the signed mandate",
        "is the {month} valuation out yet?",
        "please update the CRM after the call with {company}",
        "the {fund} factsheet has a typo on page {n}",
        "who is covering the {company} meeting {day}?",
        "approved, go ahead with the transfer",
        "can you resend the invoice, the first one bounced",
        "the suitability report for {name} is ready for review",
        "ok, I'll prepare the proposal for {company} by {day}",
        "market's quiet today, nothing to flag",
        "training on the new archive tool at {time} in {room}",
        "did {company} sign the NDA?",
        "let's meet in {room} at {time} to go through the pipeline",
        "sent you the minutes from {day}'s meeting",
        "fees schedule for {fund} is on the intranet",
        "the auditors arrive {day}, please have the files ready",
    ],
    "pt": [
        "a garantia da impressora venceu mês passado, liga pro fornecedor",
        "meu celular descarregou, te mando a apresentação por email",
        "manda o contrato assinado pro email corporativo do {name}",
        "o ponto de ônibus em frente ao escritório tá fechado {day}, entra pela lateral",
        "não para o job de conciliação até terminar",
        "cancela a reunião das {time} com a {company}, passa pra {day}",
        "rentabilidade passada não é garantia de rentabilidade futura, coloca isso no slide {n}",
        "a teleconferência de resultados da {company} é às {time}",
        "o fato relevante já está no site da {company}, vê o comunicado",
        "o sinal aqui na sala {room} é péssimo, entro pela minha mesa",
        "a análise de risco do {fund} está anexa, o {name} aprovou",
        "não podemos perder a conta da {company}, vamos nos preparar pra {day}",
        "apaguei o rascunho duplicado, a versão final está na pasta compartilhada",
        "o link de descadastro da newsletter tá quebrado, TI pode ver?",
        "atualizei o registro de brindes, declarei a agenda que a {company} mandou",
        "diagnóstico da queda: o disco do servidor de relatórios encheu",
        "o {name} reclamou que a sala tava fria kkk, chama a manutenção",
        "a maquininha de cartão da recepção quebrou de novo",
        "dados bancários de fornecedor só pelo portal de pagamentos, não pelo chat",
        "me avisa quando chegar na portaria que eu desço",
        "me liga no ramal depois das {time}",
        "a fusão das duas equipes de operações começa {day}, segue a escala",
        "o resultado do trimestre já foi divulgado, link no canal do time",
        "o retorno do fundo não é garantido, precisa ter isso no email pro {name}",
        "passa na minha mesa às {time}?",
        "o relatório de palavras SAIR do mês passado está no painel",
        "o {name} está de folga {day}, o {name2} cobre",
        "vamos fazer a revisão pelo Teams, a sala está ocupada",
        "o procedimento de reclamações precisa ser revisado antes da auditoria",
        "reservei mesa pro almoço da equipe {day}, cada um paga o seu",
        "qual o CPF do cliente? pede pra ele preencher no formulário seguro",
        # plain business chat
        "bom dia {name}, confere a liquidação da operação da {company}",
        "o dossiê KYC da {company} está completo, mando pro cadastro",
        "vou atrasar uns {n} minutos, podem começar",
        "cliente quer rebalancear pra renda fixa, falamos às {time}?",
        "valeu {name}, recebi o termo assinado",
        "já saiu a cota de {month}?",
        "atualiza o CRM depois da ligação com a {company} por favor",
        "a lâmina do {fund} tem um erro de digitação na página {n}",
        "quem vai na reunião da {company} {day}?",
        "aprovado, pode seguir com a transferência",
        "reenvia a nota fiscal, a primeira voltou",
        "o relatório de suitability do {name} está pronto pra revisão",
        "blz, preparo a proposta pra {company} até {day}",
        "mercado calmo hoje, nada a reportar",
        "treinamento da ferramenta de arquivo às {time} na sala {room}",
        "a {company} assinou o NDA?",
        "vamos nos reunir na sala {room} às {time} pra ver o pipeline",
        "te mandei a ata da reunião de {day}",
        "a tabela de taxas do {fund} está na intranet",
        "os auditores chegam {day}, deixem os arquivos prontos",
    ],
    "es": [
        "la garantía de la impresora caducó el mes pasado, llama al proveedor",
        "se me murió el móvil, te mando la presentación por correo",
        "manda el contrato firmado al correo corporativo de {name}",
        "la parada del bus delante de la oficina está cerrada {day}, entrad por el lateral",
        "no pares el proceso de conciliación hasta que termine",
        "cancela la reunión de las {time} con {company}, la pasamos a {day}",
        "rentabilidades pasadas no garantizan rentabilidades futuras, pon eso en la diapositiva {n}",
        "la conferencia de resultados de {company} es a las {time}",
        "el hecho relevante ya está en la web de {company}, mira la nota de prensa",
        "no hay cobertura en la sala {room}, me conecto desde mi mesa",
        "el análisis de riesgo de {fund} está adjunto, {name} lo aprobó",
        "no podemos perder la cuenta de {company}, preparemos bien la reunión de la semana",
        "borré el borrador duplicado, la versión final está en la carpeta compartida",
        "el enlace de baja de la newsletter no funciona, que lo mire IT",
        "actualicé el registro de regalos, declaré la agenda que mandó {company}",
        "diagnóstico de la caída: se llenó el disco del servidor de informes",
        "{name} se quejó de que la sala estaba fría jaja, avisa a mantenimiento",
        "el datáfono de recepción se ha vuelto a romper",
        "los datos bancarios de proveedores solo por el portal de pagos, no por chat",
        "avísame cuando estés abajo y bajo a buscarte",
        "llámame a la extensión después de las {time}",
        "la fusión de los dos equipos de operaciones empieza {day}, adjunto turnos",
        "los resultados del trimestre ya son públicos, enlace en el canal del equipo",
        "la rentabilidad del fondo no está garantizada, eso tiene que ir en el correo a {name}",
        "te pasas por mi mesa a las {time}?",
        "el informe de palabras BAJA del mes pasado está en el panel",
        "{name} tiene el día libre {day}, cubre {name2}",
        "hacemos la revisión por Teams, la sala está ocupada",
        "hay que revisar el procedimiento de quejas antes de la auditoría",
        "reservé mesa para la comida del equipo {day}, cada uno paga lo suyo",
        # plain business chat
        "buenos días {name}, revisa la liquidación de la operación de {company}",
        "el expediente KYC de {company} está completo, lo paso a altas",
        "llego {n} minutos tarde, empezad sin mí",
        "el cliente quiere rebalancear hacia renta fija, hablamos a las {time}?",
        "gracias {name}, recibí el mandato firmado",
        "ya salió la valoración de {month}?",
        "actualiza el CRM después de la llamada con {company} porfa",
        "la ficha de {fund} tiene una errata en la página {n}",
        "quién va a la reunión de {company} {day}?",
        "aprobado, adelante con la transferencia",
        "reenvía la factura, la primera rebotó",
        "el test de idoneidad de {name} está listo para revisar",
        "vale, preparo la propuesta para {company} antes de {day}",
        "mercado tranquilo hoy, nada que reportar",
        "formación de la nueva herramienta de archivo a las {time} en la sala {room}",
        "{company} firmó el NDA?",
        "nos vemos en la sala {room} a las {time} para repasar el pipeline",
        "te mandé el acta de la reunión de {day}",
        "las comisiones de {fund} están en la intranet",
        "los auditores llegan {day}, tened los archivos listos",
    ],
}

# ---------------------------------------------------------------------------
# Chat styling: how people type. Applied with small probabilities, so most
# messages keep their written form and the variants add diversity.

ABBREVIATIONS = {
    "en": [("you", "u"), ("please", "pls"), ("tonight", "tonite"), ("thanks", "thx"),
           ("because", "cos"), ("are", "r")],
    "pt": [("você", "vc"), ("por favor", "pfv"), ("também", "tb"), ("que", "q"),
           ("para", "pra"), ("beleza", "blz"), ("não", "ñ")],
    "es": [("por favor", "porfa"), ("que", "q"), ("porque", "xq"), ("también", "tb"),
           ("mensaje", "msj"), ("para", "pa")],
}


def strip_accents(text):
    decomposed = unicodedata.normalize("NFD", text)
    kept = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return unicodedata.normalize("NFC", kept)


def abbreviate(text, lang, rng):
    words = text.split(" ")
    for long, short in ABBREVIATIONS[lang]:
        if rng.random() < 0.5:
            continue
        parts = long.split(" ")
        i = 0
        out = []
        while i < len(words):
            if [w.lower() for w in words[i : i + len(parts)]] == parts:
                out.append(short)
                i += len(parts)
            else:
                out.append(words[i])
                i += 1
        words = out
    return " ".join(words)


def style(text, lang, rng, variant):
    """variant 0 keeps the text; higher variants restyle it more."""
    if variant == 0:
        return text
    if rng.random() < 0.5:
        text = abbreviate(text, lang, rng)
    if lang != "en" and rng.random() < 0.5:
        text = strip_accents(text)
    r = rng.random()
    if r < 0.35:
        text = text.lower()
    elif r < 0.55:
        text = text[0].upper() + text[1:]
    if rng.random() < 0.25:
        text += rng.choice([" ok?", ", thx", " pls", "!!", "..", " 🙏", " 👍"]) if lang == "en" else rng.choice(
            [" ok?", ", valeu", " pfv", "!!", "..", " 🙏", " 👍"] if lang == "pt" else [" vale?", ", gracias", " porfa", "!!", "..", " 🙏", " 👍"]
        )
    return text


# ---------------------------------------------------------------------------


def render(template, rng, lang, variant):
    text = template.format_map(Slots(rng, lang))
    if lang == "es":
        # Slots such as "el lunes" after "de"/"a" contract: "antes del lunes".
        text = text.replace(" de el ", " del ").replace(" a el ", " al ")
    return style(text, lang, rng, variant)


def fill(templates, count, lang, rng, seen, category):
    """Draws `count` distinct messages from the templates, round-robin so every
    template is used before any is used twice."""
    out = []
    order = list(range(len(templates)))
    attempts = 0
    round_ = 0
    while len(out) < count:
        rng.shuffle(order)
        for i in order:
            if len(out) >= count:
                break
            entry = templates[i]
            if isinstance(entry, tuple):
                template, labels = entry
            else:
                template, labels = entry, ([category] if category else [])
            for _ in range(20):
                attempts += 1
                text = render(template, rng, lang, min(round_, 1) if "{" not in template else round_ % 2)
                if text.lower() not in seen:
                    seen.add(text.lower())
                    out.append((lang, text, labels))
                    break
        round_ += 1
        if attempts > count * 400:
            raise SystemExit(f"cannot draw {count} distinct messages for {category or 'clean'}/{lang}")
    return out


def main():
    rng = random.Random(SEED)
    seen = set()
    rows = []
    for category in CATEGORIES:
        for lang in LANGS:
            rows += fill(T[category][lang], PER_CATEGORY, lang, rng, seen, category)
    for lang in LANGS:
        rows += fill(CLEAN_T[lang], CLEAN, lang, rng, seen, None)
    rng.shuffle(rows)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seed.jsonl")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for i, (lang, text, labels) in enumerate(rows, start=1):
            record = {"id": f"seed-{i:04d}", "lang": lang, "text": text, "labels": sorted(labels)}
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} messages to {path}")


if __name__ == "__main__":
    main()
