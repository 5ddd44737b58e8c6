// The compact text models (runtime/engine/text-models.ts) against the
// libraries they stand in for: the same o200k rank table and the same token
// counts as gpt-tokenizer, the same n-gram database and the same detections
// as eld. A sidecar's decisions depend on both, so they must not change.
import { test } from "node:test";
import assert from "node:assert/strict";
import { countTokens as libraryCount } from "gpt-tokenizer/encoding/o200k_base";
import libraryRanks from "gpt-tokenizer/esm/bpeRanks/o200k_base";
import { eld as libraryEld } from "eld/small";
import { loadLanguageDetector, loadTokenCounter, parseEldNgrams, parseTiktoken, O200K_TOKENS } from "../runtime/engine/text-models.ts";

const AS_TEXT = { disallowedSpecial: new Set<string>() };
const counter = loadTokenCounter();

/** A deterministic generator. */
function rng(seed: number): (n: number) => number {
  let x = seed;
  return (n) => ((x = (x * 1103515245 + 12345) % 2 ** 31), x % n);
}

function texts(seed: number, count: number, alphabet: string[], maxParts: number): string[] {
  const rand = rng(seed);
  return Array.from({ length: count }, () => {
    let s = "";
    const n = rand(maxParts);
    for (let j = 0; j < n; j++) s += alphabet[rand(alphabet.length)].repeat(1 + (rand(5) === 0 ? rand(8) : 0));
    return s;
  });
}

const PIECES = ["\ufeff", "\ufeffusing", "the", "The", " ", "  ", "\t", "\n", "\r\n", "\n\n", " \n", "/", "!", "?", "...", "\u00a0", "\u3000", "漢字", "。", "123", "4567", "'s", "'LL", "é", "e\u0301",
  "Ω", "😀", "\ud83d", "\ude00", "<|endoftext|>", "<|im_start|>", "x", "QUERY", "_", "-", "über", "дом", "مرحبا", "नमस्ते", "ñ", "\u0000", "\u007f", "\u200b", "ﬁ", "ǅ"];

test("the o200k rank table is gpt-tokenizer's, token by token", () => {
  assert.equal(counter.size, O200K_TOKENS);
  assert.equal(libraryRanks.length, O200K_TOKENS);
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  let boms = 0;
  for (let rank = 0; rank < libraryRanks.length; rank++) {
    const token = libraryRanks[rank];
    const bytes = counter.bytesOf(rank);
    if (typeof token === "string") {
      // The library looks strings up as strings: each must be well-formed and be exactly these bytes.
      assert.ok(token.isWellFormed(), `rank ${rank}`);
      assert.notEqual(token.charCodeAt(0), 0xfeff, `rank ${rank}`);
      assert.deepEqual(bytes, new TextEncoder().encode(token), `rank ${rank}`);
    } else {
      // …and byte arrays by bytes: those that are not UTF-8, and the few that begin with a byte-order mark
      // (which a TextDecoder would drop), which its lookups never find (TokenCounter.rankOf).
      assert.deepEqual([...bytes], token, `rank ${rank}`);
      if (token[0] === 0xef && token[1] === 0xbb && token[2] === 0xbf) boms++;
      else assert.throws(() => utf8.decode(bytes), `rank ${rank} is UTF-8 but the library keeps it as bytes`);
    }
  }
  assert.equal(boms, 9);
});

test("token counts are gpt-tokenizer's: words, scripts, whitespace runs, lone surrogates, special-token markers", () => {
  const cases = [
    "", "a", "hello world", "Wie kann ich mein Passwort zurücksetzen?", "漢字かな交じり文 😀", " ".repeat(300), "\n".repeat(50) + "x", "<|endoftext|> hi <|im_start|>system",
    "Refunds take 3-5 business days.\n\tSee https://example.com/refunds?id=42 — or call us!\n    def f(x): return x**2  # squares\n",
    "!".repeat(500), "\ud800", "a\udc00b",
    // The library's byte-order-mark quirk (TokenCounter.rankOf): tokens that begin with one are never found.
    "\ufeffusing", "\ufeff", "\ufeff\ufeff", "x\ufeffnamespace", "\ufeff\n\n", "\ufeff//", "ab\ufeff#", " \ufeff출장안마", "\ufeff\ufeff\ufeffusing namespace", "\ufeff#include", "😀".repeat(40), "x".repeat(3000), "supercalifragilisticexpialidocious ".repeat(20),
    ...texts(1, 2000, PIECES, 40),
    ...texts(2, 200, PIECES, 400),
    ...texts(3, 300, ["!", "\"", "#", "$", "%", "&", "(", ")", "*", "+", ",", "-", ".", "/", ":", ";", "<", "=", ">", "?", "@", "[", "\\", "]", "^", "_", "`", "{", "|", "}", "~", " "], 200),
  ];
  for (const text of cases) assert.equal(counter.count(text), libraryCount(text, AS_TEXT), JSON.stringify(text.slice(0, 200)));
  // The same texts again: now partly from the merge cache.
  for (const text of cases) assert.equal(counter.count(text), libraryCount(text, AS_TEXT), JSON.stringify(text.slice(0, 200)));
});

test("the merge cache stays bounded and keeps no slice of a prompt", () => {
  const c = loadTokenCounter();
  const rand = rng(9);
  for (let i = 0; i < 30_000; i++) {
    let w = " ";
    for (let k = 0; k < 8 + rand(30); k++) w += String.fromCharCode(0x4e00 + rand(2000));
    c.count(w);
  }
  const cache = (c as unknown as { merged: Map<string, number> }).merged;
  assert.ok(cache.size <= 8192, `${cache.size} entries`);
  assert.ok([...cache.keys()].every((k) => k.length <= 48));
});

test("a rank table not in the expected form is refused, not read differently", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  assert.equal(parseTiktoken(enc("YQ== 0\nYg== 1\nYWI= 2\n")).count("ab"), 1);
  assert.throws(() => parseTiktoken(enc("YQ== 0\nYg== 2\n")), /rank 2, not 1/);
  assert.throws(() => parseTiktoken(enc("YQ== 0\nY!== 1\n")), /not base64/);
  assert.throws(() => parseTiktoken(enc("YQ== 0\nYQ== 1\n")), /the same bytes/);
  assert.throws(() => parseTiktoken(enc("YQ== 0\nYg==\n")), /no rank/);
});

test("the n-gram database is eld's, n-gram by n-gram", async () => {
  const entry = import.meta.resolve("eld/small");
  const { ngramsData } = (await import(new URL("../ngrams/small.js", entry).href)) as { ngramsData: { type: string; languages: Record<number, string>; ngrams: Record<string, Record<number, number>> } };
  const { readFileSync } = await import("node:fs");
  const { type, languages, ngrams } = parseEldNgrams(readFileSync(new URL("../ngrams/small.js", entry)));
  assert.equal(type, ngramsData.type);
  assert.deepEqual(languages, ngramsData.languages);
  const keys = Object.keys(ngramsData.ngrams);
  assert.equal(ngrams.size, keys.length);
  for (const key of keys) assert.deepEqual(ngrams.lookup(key), { ...ngramsData.ngrams[key] }, JSON.stringify(key));
  for (const absent of ["", "zzzzzz", " qqqqq", "é".repeat(7), "漢", "__proto__", "toString", "constructor"]) assert.equal(ngrams.lookup(absent), undefined, absent);
});

test("language detection is eld's: every language it knows, mixed texts, long words, noise", async () => {
  const detector = await loadLanguageDetector();
  const sentences = [
    "How do I reset my password?", "Wie kann ich mein Passwort zurücksetzen?", "Je voudrais un remboursement pour ma commande", "¿Dónde está mi pedido?",
    "Dov'è il mio ordine?", "Onde está o meu pedido?", "Waar is mijn bestelling?", "Gdzie jest moje zamówienie?", "Где мой заказ?", "Де моє замовлення?",
    "Var är min beställning?", "Hvor er min ordre?", "Missä tilaukseni on?", "Siparişim nerede?", "Πού είναι η παραγγελία μου;", "הזמנה שלי איפה",
    "أين طلبي؟", "میرا آرڈر کہاں ہے؟", "سفارش من کجاست؟", "मेरा ऑर्डर कहाँ है?", "আমার অর্ডার কোথায়?", "என் ஆர்டர் எங்கே?", "నా ఆర్డర్ ఎక్కడ ఉంది?",
    "ನನ್ನ ಆರ್ಡರ್ ಎಲ್ಲಿದೆ?", "എന്റെ ഓർഡർ എവിടെ?", "મારો ઓર્ડર ક્યાં છે?", "ਮੇਰਾ ਆਰਡਰ ਕਿੱਥੇ ਹੈ?", "ମୋର ଅର୍ଡର କେଉଁଠି?", "我的订单在哪里？", "注文はどこですか？",
    "내 주문은 어디에 있나요?", "คำสั่งซื้อของฉันอยู่ที่ไหน", "ການສັ່ງຊື້ຂອງຂ້ອຍຢູ່ໃສ?", "Đơn hàng của tôi ở đâu?", "Nasaan ang order ko?", "Di mana pesanan saya?",
    "Hol van a rendelésem?", "Kde je moje objednávka?", "Kje je moje naročilo?", "Gdje je moja narudžba?", "Где је моја поруџбина?", "Къде е поръчката ми?",
    "Unde este comanda mea?", "Kur yra mano užsakymas?", "Kur ir mans pasūtījums?", "Kus on minu tellimus?", "Hvar er pöntunin mín?", "Non dago nire eskaera?",
    "On és la meva comanda?", "Ku është porosia ime?", "Sifarişim haradadır?", "Где мой заказ? Дзе мая замова?", "Որտե՞ղ է իմ պատվերը", "სად არის ჩემი შეკვეთა?",
    "የእኔ ትዕዛዝ የት ነው?", "Níbo ni àṣẹ mi wà?", "Fermandeya min li ku ye?", "Hvor er bestillingen min?", "",
    "   ", "1234 5678", "https://example.com/a/b?c=d", "x".repeat(200), "a".repeat(75) + " word", "Supercalifragilisticexpialidociousandthensomeevenlongerwordthatgoesonandonandon tail",
    "hello bonjour hola hallo ciao", "it's", "l'été d'un", "`quoted` ‘single’ ’apostrophe’",
  ];
  const all = [...sentences, ...texts(4, 1500, [...PIECES, " ", " ", "and", "und", "et", "och", "los", "что", "的", "の", "ع", "नम", "ক", "ሰ"], 60), "word ".repeat(400)];
  for (const text of all) {
    const mine = detector.detect(text);
    const theirs = libraryEld.detect(text);
    assert.equal(mine.language, theirs.language, JSON.stringify(text));
    assert.deepEqual(mine.getScores(), theirs.getScores(), JSON.stringify(text));
    assert.equal(mine.isReliable(), theirs.isReliable(), JSON.stringify(text));
  }
});

test("an n-gram database not in the expected form is refused", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  const ok = parseEldNgrams(enc("export const ngramsData = {type:'S60',languages:{0:'am',1:'ar'},isSubset:false,ngrams:{' ab ':{0:7,1:9},cd:{1:3},'x\\'y':{0:1}}};"));
  assert.equal(ok.type, "S60");
  assert.deepEqual(ok.ngrams.lookup(" ab "), { 0: 7, 1: 9 });
  assert.deepEqual(ok.ngrams.lookup("x'y"), { 0: 1 });
  assert.throws(() => parseEldNgrams(enc("export const other = {}")), /no ngramsData/);
  assert.throws(() => parseEldNgrams(enc("export const ngramsData = {type:'S60',languages:{0:'am'},ngrams:{' ab ':{3:7}}};")), /unknown language/);
  assert.throws(() => parseEldNgrams(enc("export const ngramsData = {type:'S60',languages:{0:'am'},ngrams:{' abcdef ':{0:7}}};")), /longer than 6/);
  assert.throws(() => parseEldNgrams(enc("export const ngramsData = {type:'S60',languages:{0:'am'},ngrams:{' ab ':{0:-7}}};")), /whole number/);
});
