--- ISO 4217 active alphabetic currency codes, as data in one place (seed 001 allows only
-- currency symbols, ISO 4217 codes, numbers, commas, decimal points and spaces in an item
-- summary description; result code 3040). Used by validate/kakao.lua (summary description and
-- the message's `currency`) and by the sandbox emulator's own Kakao rules.
--
-- Source: ISO 4217 "List One: Currency, fund and precious metal codes" (current codes, the
-- list maintained by SIX Group for ISO), written out from the standard as amended up to 2025
-- (amendments 170-179: SLE replacing SLL, VED added, ZWG replacing ZWL, XCG replacing ANG).
-- Not in it: withdrawn codes (List Three) such as HRK (Croatia, euro since 2023), BGN
-- (Bulgaria, euro since 2026-01-01), ANG (replaced by XCG from 2025-03-31), SLL, ZWL, CUC,
-- VEF, MRO, STD. Fund codes (BOV, CHE, CHW, CLF, COU, MXV, USN, UYI, UYW), precious metals
-- (XAU, XAG, XPD, XPT), SDR and unit codes (XDR, XSU, XUA, XBA-XBD) and the special codes XTS
-- (testing) and XXX (no currency) are in List One and so are accepted. When ISO amends the
-- list, change it here only.
-- @module alimtalk.iso4217
local _M = {}

_M.as_of = "2025"

local LIST = [[
AED AFN ALL AMD AOA ARS AUD AWG AZN
BAM BBD BDT BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK
DJF DKK DOP DZD
EGP ERN ETB EUR
FJD FKP
GBP GEL GHS GIP GMD GNF GTQ GYD
HKD HNL HTG HUF
IDR ILS INR IQD IRR ISK
JMD JOD JPY
KES KGS KHR KMF KPW KRW KWD KYD KZT
LAK LBP LKR LRD LSL LYD
MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN
NAD NGN NIO NOK NPR NZD
OMR
PAB PEN PGK PHP PKR PLN PYG
QAR
RON RSD RUB RWF
SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL
THB TJS TMT TND TOP TRY TTD TWD TZS
UAH UGX USD USN UYI UYU UYW UZS
VED VES VND VUV
WST
XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS XUA XXX
YER
ZAR ZMW ZWG
]]

--- The codes as a set: `codes.KRW == true`.
_M.codes = {}
for code in LIST:gmatch("%u%u%u") do _M.codes[code] = true end

--- Whether `s` is an active ISO 4217 alphabetic code (exactly three capitals on the list).
-- @tparam string s
-- @treturn boolean
function _M.is_code(s)
  return _M.codes[s] == true
end

return _M
