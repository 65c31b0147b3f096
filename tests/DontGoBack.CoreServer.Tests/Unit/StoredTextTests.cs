using System.Text;
using DontGoBack.CoreServer.Persistence;
using DontGoBack.Batch.Storage;

namespace DontGoBack.CoreServer.Tests.Unit;

public sealed class StoredTextTests
{
    [Fact]
    public void Text_that_needs_nothing_is_returned_as_it_is()
    {
        const string text = "잔액 부족\tline one\r\nline two 😀";
        Assert.Same(text, StoredText.Clean(text, 100));
    }

    [Fact]
    public void Null_stays_null() => Assert.Null(StoredText.Clean(null, 10));

    [Fact]
    public void Nul_and_other_control_characters_are_dropped_but_tab_and_line_breaks_stay() =>
        Assert.Equal("ab\tc\r\nd", StoredText.Clean("a\0b\tc\u0001\r\n\u001Bd", 100));

    // Lone surrogates cannot travel in attribute arguments (stored as UTF-8), so they are built here.
    // The case name keeps the test ids apart: the serialised texts would collide.
    public static TheoryData<string, string, string> LoneSurrogates => new()
    {
        { "lone high half", "a\uD800b", "a\uFFFDb" },
        { "lone low half", "a\uDC00b", "a\uFFFDb" },
        { "halves in the wrong order", "a\uDC00\uD800", "a\uFFFD\uFFFD" },
        { "nothing but a high half", "\uD800", "\uFFFD" },
    };

    [Theory]
    [MemberData(nameof(LoneSurrogates))]
    public void Lone_surrogates_are_replaced(string @case, string text, string expected) =>
        Assert.True(expected == StoredText.Clean(text, 100), @case);

    [Fact]
    public void Cleaned_text_encodes_as_strict_utf8_without_nul()
    {
        var text = string.Concat(Enumerable.Repeat("x\0\uD800y😀\uDFFF", 1000));
        var cleaned = StoredText.Clean(text, 5000);
        var strict = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        Assert.DoesNotContain('\0', cleaned);
        _ = strict.GetBytes(cleaned); // throws on a lone surrogate, as Npgsql's encoder does
    }

    [Fact]
    public void Long_text_is_cut_to_the_limit_with_a_mark()
    {
        var cleaned = StoredText.Clean(new string('a', 10_000), 500);
        Assert.Equal(500, cleaned.Length);
        Assert.Equal(new string('a', 499) + StoredText.CutMark, cleaned);
    }

    [Fact]
    public void Text_that_fits_once_cleaned_is_not_cut() =>
        Assert.Equal("abcde", StoredText.Clean("a\0b\0c\0d\0e", 5));

    [Fact]
    public void A_cut_never_splits_a_surrogate_pair()
    {
        // Keeping 3 units of "ab😀😀" would end on the pair's high half.
        Assert.Equal("ab" + StoredText.CutMark, StoredText.Clean("ab😀😀", 4));
        Assert.Equal("ab😀" + StoredText.CutMark, StoredText.Clean("ab😀😀", 5));
    }

    [Fact]
    public void A_limit_of_one_keeps_only_the_mark_when_cut() =>
        Assert.Equal(StoredText.CutMark.ToString(), StoredText.Clean("ab", 1));
}
