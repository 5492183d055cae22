// Verifies the license tokens that POST /api/v1/validate returns, with the
// .NET Framework 4.x API only (no NuGet package): RSACryptoServiceProvider
// for RS256 and DataContractJsonSerializer (System.Runtime.Serialization)
// for JSON. The X++ module can reference the compiled library, or port the
// steps of LicenseTokenVerifier.Verify one by one.
//
// Build: csc /r:System.Runtime.Serialization.dll LicenseTokenVerifier.cs
//    or: mcs -r:System.Runtime.Serialization.dll LicenseTokenVerifier.cs
// Run:   LicenseTokenVerifier.exe --key KEY.xml --serial SERIAL --nonce NONCE --token TOKEN

using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.Serialization;
using System.Runtime.Serialization.Json;
using System.Security.Cryptography;
using System.Text;

namespace Licensing.Verification
{
    /// <summary>Stable codes of the check that rejected a token.</summary>
    public static class FailureReason
    {
        public const string MalformedToken = "MALFORMED_TOKEN";
        public const string UnsupportedAlgorithm = "UNSUPPORTED_ALGORITHM";
        public const string UnknownKid = "UNKNOWN_KID";
        public const string InvalidSignature = "INVALID_SIGNATURE";
        public const string SubjectMismatch = "SUBJECT_MISMATCH";
        public const string NonceMismatch = "NONCE_MISMATCH";
        public const string IssuedAtSkew = "ISSUED_AT_SKEW";
        public const string Expired = "EXPIRED";
    }

    [DataContract]
    public sealed class TokenHeader
    {
        [DataMember(Name = "alg")] public string Algorithm { get; set; }
        [DataMember(Name = "typ")] public string Type { get; set; }
        [DataMember(Name = "kid")] public string KeyId { get; set; }
    }

    [DataContract]
    public sealed class EnvironmentClaim
    {
        [DataMember(Name = "registered")] public bool Registered { get; set; }
        [DataMember(Name = "active")] public bool Active { get; set; }
        [DataMember(Name = "customerName")] public string CustomerName { get; set; }
        [DataMember(Name = "customerNumber")] public string CustomerNumber { get; set; }
    }

    /// <summary>One product decision. Absent fields are null.</summary>
    [DataContract]
    public sealed class ProductDecision
    {
        [DataMember(Name = "publisherId")] public string PublisherId { get; set; }
        [DataMember(Name = "publisherName")] public string PublisherName { get; set; }
        [DataMember(Name = "productName")] public string ProductName { get; set; }
        [DataMember(Name = "status")] public string Status { get; set; }
        [DataMember(Name = "licensed")] public bool Licensed { get; set; }
        [DataMember(Name = "disableFeature")] public bool DisableFeature { get; set; }
        [DataMember(Name = "licenseType")] public string LicenseType { get; set; }
        [DataMember(Name = "enabled")] public bool? Enabled { get; set; }
        [DataMember(Name = "siteLicense")] public bool? SiteLicense { get; set; }
        [DataMember(Name = "numberOfUsers")] public int? NumberOfUsers { get; set; }
        [DataMember(Name = "subscriptionStartDate")] public string SubscriptionStartDate { get; set; }
        [DataMember(Name = "expirationDate")] public string ExpirationDate { get; set; }
        [DataMember(Name = "featureDisableDate")] public string FeatureDisableDate { get; set; }
        [DataMember(Name = "termsUrl")] public string TermsUrl { get; set; }
        [DataMember(Name = "userGuideUrl")] public string UserGuideUrl { get; set; }
        [DataMember(Name = "releaseNotesUrl")] public string ReleaseNotesUrl { get; set; }
        [DataMember(Name = "supportEmail")] public string SupportEmail { get; set; }
    }

    /// <summary>The claims of a license token; times are Unix seconds.</summary>
    [DataContract]
    public sealed class LicenseClaims
    {
        [DataMember(Name = "iss")] public string Issuer { get; set; }
        [DataMember(Name = "sub")] public string Subject { get; set; }
        [DataMember(Name = "tenant")] public string Tenant { get; set; }
        [DataMember(Name = "nonce")] public string Nonce { get; set; }
        [DataMember(Name = "iat")] public long? IssuedAt { get; set; }
        [DataMember(Name = "exp")] public long? ExpiresAt { get; set; }
        [DataMember(Name = "recheckAfter")] public long? RecheckAfter { get; set; }
        [DataMember(Name = "jti")] public string TokenId { get; set; }
        [DataMember(Name = "environment")] public EnvironmentClaim Environment { get; set; }
        [DataMember(Name = "products")] public List<ProductDecision> Products { get; set; }
    }

    public sealed class VerificationResult
    {
        public bool IsValid { get; private set; }
        /// <summary>One of FailureReason, or null for a valid token.</summary>
        public string Reason { get; private set; }
        public string Message { get; private set; }
        /// <summary>The verified claims; null unless IsValid.</summary>
        public LicenseClaims Claims { get; private set; }

        public static VerificationResult Valid(LicenseClaims claims)
        {
            return new VerificationResult { IsValid = true, Claims = claims, Message = "verified" };
        }

        public static VerificationResult Invalid(string reason, string message)
        {
            return new VerificationResult { IsValid = false, Reason = reason, Message = message };
        }
    }

    /// <summary>
    /// Checks a token against pinned RSA public keys. The checks run in this order:
    /// three base64url parts, alg RS256, a kid that is the RFC 7638 thumbprint of a
    /// pinned key, and the RS256 signature over the ASCII "header.payload". Then
    /// sub and nonce must be the values sent, iat within MaxClockSkew of the
    /// clock, and exp after now. The payload is parsed only after the signature
    /// verifies.
    /// </summary>
    public sealed class LicenseTokenVerifier
    {
        private static readonly DateTime UnixEpoch = new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        private readonly Dictionary<string, RSAParameters> keys = new Dictionary<string, RSAParameters>();

        /// <summary>Creates a verifier without keys; pin them with AddKey (easiest from X++).</summary>
        public LicenseTokenVerifier()
        {
            MaxClockSkew = TimeSpan.FromMinutes(5);
        }

        /// <summary>Pins the keys given as RSAKeyValue XML.</summary>
        public LicenseTokenVerifier(IEnumerable<string> rsaKeyValueXml) : this()
        {
            foreach (string xml in rsaKeyValueXml)
            {
                AddKey(xml);
            }
        }

        /// <summary>
        /// Pins one public key given as RSAKeyValue XML (the form RSA.ToXmlString(false)
        /// writes) and returns its kid. Throws ArgumentException for anything else.
        /// </summary>
        public string AddKey(string rsaKeyValueXml)
        {
            using (RSACryptoServiceProvider rsa = new RSACryptoServiceProvider())
            {
                rsa.PersistKeyInCsp = false;
                try
                {
                    rsa.FromXmlString(rsaKeyValueXml);
                }
                catch (System.Security.XmlSyntaxException exc)
                {
                    throw new ArgumentException("the key is not RSAKeyValue XML", exc);
                }
                catch (CryptographicException exc)
                {
                    throw new ArgumentException("the key is not RSAKeyValue XML", exc);
                }
                RSAParameters parameters = rsa.ExportParameters(false);
                string kid = Thumbprint(parameters);
                keys[kid] = parameters;
                return kid;
            }
        }

        public TimeSpan MaxClockSkew { get; set; }

        /// <summary>The kids of the pinned keys.</summary>
        public ICollection<string> KeyIds
        {
            get { return keys.Keys; }
        }

        public VerificationResult Verify(string token, string serialNumber, string nonce, DateTime utcNow)
        {
            string[] parts = (token ?? "").Trim().Split('.');
            if (parts.Length != 3 || parts[0].Length == 0 || parts[1].Length == 0
                || !IsBase64Url(parts[0]) || !IsBase64Url(parts[1]) || !IsBase64Url(parts[2]))
            {
                return VerificationResult.Invalid(FailureReason.MalformedToken,
                    "the token is not three base64url parts separated by dots");
            }

            TokenHeader header = Parse<TokenHeader>(parts[0]);
            if (header == null)
            {
                return VerificationResult.Invalid(FailureReason.MalformedToken, "the header is not a JSON object");
            }
            // Only RS256: accepting "none" or an HS algorithm would let anyone forge a token.
            if (header.Algorithm != "RS256")
            {
                return VerificationResult.Invalid(FailureReason.UnsupportedAlgorithm,
                    string.Format("alg is {0}, expected RS256", Quote(header.Algorithm)));
            }

            RSAParameters key;
            if (header.KeyId == null || !keys.TryGetValue(header.KeyId, out key))
            {
                return VerificationResult.Invalid(FailureReason.UnknownKid,
                    string.Format("kid {0} matches no pinned public key", Quote(header.KeyId)));
            }

            if (!VerifySignature(key, parts[0] + "." + parts[1], Base64UrlDecode(parts[2])))
            {
                return VerificationResult.Invalid(FailureReason.InvalidSignature,
                    "the signature does not verify with the pinned key");
            }

            LicenseClaims claims = Parse<LicenseClaims>(parts[1]);
            if (claims == null)
            {
                return VerificationResult.Invalid(FailureReason.MalformedToken,
                    "the payload is not a JSON object of the license claims");
            }
            return CheckClaims(claims, serialNumber, nonce, utcNow);
        }

        private VerificationResult CheckClaims(LicenseClaims claims, string serialNumber, string nonce, DateTime utcNow)
        {
            if (claims.Subject != serialNumber)
            {
                return VerificationResult.Invalid(FailureReason.SubjectMismatch,
                    string.Format("sub is {0}, expected {1} as sent", Quote(claims.Subject), Quote(serialNumber)));
            }
            if (claims.Nonce != nonce)
            {
                return VerificationResult.Invalid(FailureReason.NonceMismatch,
                    string.Format("nonce is {0}, expected {1} as sent", Quote(claims.Nonce), Quote(nonce)));
            }

            long now = (long)(utcNow.ToUniversalTime() - UnixEpoch).TotalSeconds;
            long skew = (long)MaxClockSkew.TotalSeconds;
            if (!claims.IssuedAt.HasValue || Math.Abs(claims.IssuedAt.Value - now) > skew)
            {
                return VerificationResult.Invalid(FailureReason.IssuedAtSkew,
                    string.Format("iat {0} is more than {1} s from this clock ({2})", claims.IssuedAt, skew, now));
            }
            if (!claims.ExpiresAt.HasValue || claims.ExpiresAt.Value <= now)
            {
                return VerificationResult.Invalid(FailureReason.Expired,
                    string.Format("the token expired at {0} (now {1})", claims.ExpiresAt, now));
            }
            return VerificationResult.Valid(claims);
        }

        private static bool VerifySignature(RSAParameters key, string signingInput, byte[] signature)
        {
            if (signature == null)
            {
                return false;
            }
            using (RSACryptoServiceProvider rsa = new RSACryptoServiceProvider())
            {
                rsa.PersistKeyInCsp = false;
                rsa.ImportParameters(key);
                // RSASSA-PKCS1-v1_5 with SHA-256 over the bytes exactly as received.
                return rsa.VerifyData(Encoding.ASCII.GetBytes(signingInput), "SHA256", signature);
            }
        }

        /// <summary>Computes the RFC 7638 thumbprint: SHA-256 of {"e","kty","n"} without whitespace.</summary>
        public static string Thumbprint(RSAParameters key)
        {
            string json = "{\"e\":\"" + Base64UrlEncode(TrimLeadingZeros(key.Exponent))
                + "\",\"kty\":\"RSA\",\"n\":\"" + Base64UrlEncode(TrimLeadingZeros(key.Modulus)) + "\"}";
            using (SHA256 sha = SHA256.Create())
            {
                return Base64UrlEncode(sha.ComputeHash(Encoding.ASCII.GetBytes(json)));
            }
        }

        private static T Parse<T>(string part) where T : class
        {
            byte[] json = Base64UrlDecode(part);
            if (json == null)
            {
                return null;
            }
            try
            {
                DataContractJsonSerializer serializer = new DataContractJsonSerializer(typeof(T));
                using (MemoryStream stream = new MemoryStream(json))
                {
                    return serializer.ReadObject(stream) as T;
                }
            }
            catch (SerializationException)
            {
                return null;
            }
            catch (InvalidCastException)
            {
                return null;
            }
            catch (System.Xml.XmlException)
            {
                return null;
            }
        }

        private static bool IsBase64Url(string text)
        {
            foreach (char c in text)
            {
                bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
                if (!ok)
                {
                    return false;
                }
            }
            return text.Length % 4 != 1;
        }

        /// <summary>Decodes base64url without padding; returns null for invalid text.</summary>
        public static byte[] Base64UrlDecode(string text)
        {
            if (!IsBase64Url(text))
            {
                return null;
            }
            string padded = text.Replace('-', '+').Replace('_', '/');
            padded += new string('=', (4 - padded.Length % 4) % 4);
            try
            {
                return Convert.FromBase64String(padded);
            }
            catch (FormatException)
            {
                return null;
            }
        }

        public static string Base64UrlEncode(byte[] data)
        {
            return Convert.ToBase64String(data).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        }

        private static byte[] TrimLeadingZeros(byte[] value)
        {
            int start = 0;
            while (start < value.Length - 1 && value[start] == 0)
            {
                start++;
            }
            byte[] trimmed = new byte[value.Length - start];
            Array.Copy(value, start, trimmed, 0, trimmed.Length);
            return trimmed;
        }

        private static string Quote(string value)
        {
            return value == null ? "(missing)" : "'" + value + "'";
        }
    }

    /// <summary>Command line: verifies one token and prints the decisions.</summary>
    public static class Program
    {
        private const string Usage =
            "usage: LicenseTokenVerifier --key FILE [--key FILE ...] --serial SERIAL --nonce NONCE\n"
            + "       (--token TOKEN | --token-file FILE) [--now UNIX_SECONDS] [--max-skew SECONDS]\n"
            + "Each --key FILE contains one public key as RSAKeyValue XML.\n"
            + "Exit status: 0 valid token, 1 rejected token, 2 invalid arguments.";

        public static int Main(string[] args)
        {
            Console.OutputEncoding = new UTF8Encoding(false);
            List<string> keyFiles = new List<string>();
            string serial = null, nonce = null, token = null, now = null, maxSkew = null;
            for (int i = 0; i < args.Length; i++)
            {
                string value = i + 1 < args.Length ? args[i + 1] : null;
                switch (args[i])
                {
                    case "--key": keyFiles.Add(value); break;
                    case "--serial": serial = value; break;
                    case "--nonce": nonce = value; break;
                    case "--token": token = value; break;
                    case "--token-file": token = value == null ? null : ReadToken(value); break;
                    case "--now": now = value; break;
                    case "--max-skew": maxSkew = value; break;
                    default:
                        Console.Error.WriteLine("unknown argument {0}\n{1}", args[i], Usage);
                        return 2;
                }
                if (value == null)
                {
                    Console.Error.WriteLine("{0} needs a value\n{1}", args[i], Usage);
                    return 2;
                }
                i++;
            }
            if (keyFiles.Count == 0 || serial == null || nonce == null || token == null)
            {
                Console.Error.WriteLine(Usage);
                return 2;
            }

            LicenseTokenVerifier verifier = new LicenseTokenVerifier();
            DateTime utcNow = DateTime.UtcNow;
            try
            {
                foreach (string file in keyFiles)
                {
                    verifier.AddKey(File.ReadAllText(file));
                }
                if (maxSkew != null)
                {
                    verifier.MaxClockSkew = TimeSpan.FromSeconds(long.Parse(maxSkew));
                }
                if (now != null)
                {
                    utcNow = new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddSeconds(long.Parse(now));
                }
            }
            catch (Exception exc)
            {
                if (!(exc is IOException || exc is ArgumentException || exc is FormatException
                      || exc is OverflowException || exc is UnauthorizedAccessException))
                {
                    throw;
                }
                Console.Error.WriteLine("error: {0}", exc.Message);
                return 2;
            }

            VerificationResult result = verifier.Verify(token, serial, nonce, utcNow);
            if (!result.IsValid)
            {
                Console.WriteLine("INVALID {0}: {1}", result.Reason, result.Message);
                return 1;
            }
            Print(result.Claims);
            return 0;
        }

        private static string ReadToken(string path)
        {
            try
            {
                return File.ReadAllText(path);
            }
            catch (IOException exc)
            {
                Console.Error.WriteLine("error: {0}", exc.Message);
                return null;
            }
        }

        private static void Print(LicenseClaims claims)
        {
            Console.WriteLine("VALID");
            Console.WriteLine("issuer: {0}", claims.Issuer);
            Console.WriteLine("serial: {0} tenant: {1}", claims.Subject, claims.Tenant);
            Console.WriteLine("issuedAt: {0} expiresAt: {1} recheckAfter: {2}", claims.IssuedAt, claims.ExpiresAt, claims.RecheckAfter);
            EnvironmentClaim environment = claims.Environment ?? new EnvironmentClaim();
            Console.WriteLine("environment: registered={0} active={1}", Lower(environment.Registered), Lower(environment.Active));
            Console.WriteLine("customerName: {0}", environment.CustomerName ?? "-");
            Console.WriteLine("customerNumber: {0}", environment.CustomerNumber ?? "-");
            foreach (ProductDecision product in claims.Products ?? new List<ProductDecision>())
            {
                Console.WriteLine(
                    "product: {0} | {1} | {2} | status={3} licensed={4} disableFeature={5} expirationDate={6} featureDisableDate={7}",
                    product.PublisherId, product.PublisherName ?? "-", product.ProductName, product.Status,
                    Lower(product.Licensed), Lower(product.DisableFeature),
                    product.ExpirationDate ?? "-", product.FeatureDisableDate ?? "-");
            }
        }

        private static string Lower(bool value)
        {
            return value ? "true" : "false";
        }
    }
}
